package dev.retort.distill.method;

import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.BatchSource;
import dev.retort.distill.data.PackedData;
import dev.retort.models.Sampling;
import dev.retort.models.llama.Generator;
import dev.retort.models.llama.LlamaModel;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * GKD's micro-batches (Agarwal et al. 2024): the dataset's rows (one example per row, its prompt first), and with
 * probability λ the same prompts answered by the student itself, sampled from its current weights; otherwise
 * the dataset's responses, or with {@code seqKd} the teacher's own samples (TRL's seq_kd). A generated row is
 * prompt + response (+ the end-of-sequence token the model wrote), and only the response is a target.
 *
 * <p>Exact on resume: whether micro-batch i is on-policy is a function of (seed, i), and response j of micro-batch
 * i samples with {@link Sampling#sequenceSeed} of (seed, i·B + j) from weights the checkpoint restores; batched
 * generation writes the same tokens whatever the batch and thread count.
 */
public final class GeneratedBatches implements BatchSource {
    private final BatchSource dataset;
    private final PackedData rows;
    private final Generator student, teacher;     // teacher: only with seqKd
    private final double lambda;
    private final Sampling sampling;
    private final long seed;
    private final int padToken;
    private double generationSeconds;
    private long onPolicy, offPolicy;

    /**
     * @param rows     per-example rows ({@link PackedData#perExample}) that {@code dataset} draws from
     * @param eosToken the tokenizer's end-of-sequence id (the config's EOS ids end a response too), or -1
     * @param sampling how responses are drawn (temperature, max new tokens); its seed is the run's
     */
    public GeneratedBatches(BatchSource dataset, PackedData rows, LlamaModel student, LlamaModel teacherOrNull, int eosToken,
                            double lambda, Sampling sampling, int padToken) {
        if (!rows.hasPrompts()) throw new IllegalArgumentException("generated batches need one example per row, with its prompt");
        this.dataset = dataset;
        this.rows = rows;
        this.student = Generator.tokensOnly(student, eosToken);
        this.teacher = teacherOrNull == null ? null : Generator.tokensOnly(teacherOrNull, eosToken);
        this.lambda = lambda;
        this.sampling = sampling;
        this.seed = sampling.seed();
        this.padToken = padToken;
    }

    /** Whether micro-batch {@code index} is answered by the student: u(seed, index) &lt; λ. */
    boolean onPolicy(long index) {
        return new SplittableRandom(Sampling.sequenceSeed(seed ^ 0x6b64_4f6e_506f_6cL, index)).nextDouble() < lambda;
    }

    @Override
    public Batch batch(long index) {
        Batch data = dataset.batch(index);
        if (onPolicy(index)) {
            onPolicy++;
            return generated(data, student, index).from("student");
        }
        offPolicy++;
        return teacher == null ? data.from("data") : generated(data, teacher, index).from("teacher");
    }

    /** The batch's prompts, answered by {@code model}. */
    private Batch generated(Batch data, Generator model, long index) {
        int[] prompts = new int[data.batch()];
        for (int i = 0; i < prompts.length; i++) prompts[i] = rows.promptLength(data.rows()[i]);
        long start = System.nanoTime();
        Batch answered = answer(data, prompts, model, sampling, index, padToken);
        generationSeconds += (System.nanoTime() - start) / 1e9;
        return answered;
    }

    /**
     * Micro-batch {@code index}'s prompts answered by {@code model}: row i's prompt is its first
     * {@code promptLengths[i]} input tokens; it samples at most min(max tokens, room left in the row) tokens with
     * the sequence seed of (sampling seed, index·B + i). A row becomes prompt + response (+ the end-of-sequence
     * token the model wrote), padded; only the response tokens are targets. The same tokens for any batch size
     * and thread count.
     */
    public static Batch answer(Batch data, int[] promptLengths, Generator model, Sampling sampling, long index, int padToken) {
        int b = data.batch(), seq = data.seq();
        List<Generator.Request> requests = new ArrayList<>(b);
        for (int i = 0; i < b; i++) {
            int prompt = promptLengths[i];
            int[] promptIds = java.util.Arrays.copyOfRange(data.inputs(), i * seq, i * seq + prompt);
            int room = seq - prompt;
            requests.add(new Generator.Request(promptIds, Math.min(sampling.maxTokens(), room), sampling.sampler(index * b + i), List.of()));
        }
        List<Generator.Result> results = model.generate(requests, b, (i, piece) -> { });
        int[] inputs = new int[b * seq], targets = new int[b * seq];
        java.util.Arrays.fill(inputs, padToken);
        java.util.Arrays.fill(targets, CrossEntropy.IGNORE_INDEX);
        for (int i = 0; i < b; i++) {
            int[] prompt = requests.get(i).prompt();
            Generator.Result r = results.get(i);
            int length = prompt.length + r.generated().length;
            boolean eos = r.finish() == Generator.Finish.EOS;   // the end token the model wrote (Llama 3: <|eot_id|>, say) is a target too
            int[] tokens = new int[length + (eos ? 1 : 0)];
            System.arraycopy(prompt, 0, tokens, 0, prompt.length);
            System.arraycopy(r.generated(), 0, tokens, prompt.length, r.generated().length);
            if (eos) tokens[length] = r.eosToken();
            for (int t = 0; t < seq && t < tokens.length; t++) {
                inputs[i * seq + t] = tokens[t];
                if (t + 1 < tokens.length && t + 1 >= prompt.length) targets[i * seq + t] = tokens[t + 1];
            }
        }
        return new Batch(inputs, targets, b, seq, data.rows());
    }

    /** Seconds spent generating so far (for the step's time split). */
    public double generationSeconds() {
        return generationSeconds;
    }

    /** Micro-batches answered by the student so far, and the others. */
    public long[] counts() {
        return new long[] {onPolicy, offPolicy};
    }

    @Override
    public int batchesPerEpoch() {
        return dataset.batchesPerEpoch();
    }

    @Override
    public int epochOf(long index) {
        return dataset.epochOf(index);
    }
}
