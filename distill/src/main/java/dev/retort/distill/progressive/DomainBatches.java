package dev.retort.distill.progressive;

import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.BatchSchedule;
import dev.retort.distill.data.BatchSource;
import dev.retort.distill.method.GeneratedBatches;
import dev.retort.models.Sampling;
import dev.retort.models.llama.Generator;
import dev.retort.models.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A progressive phase's micro-batches: the unlabelled domain inputs in a seeded order, one per row, each put into
 * a prompt template ({@link PromptTemplates}: which one is the templates' choice for (step, row)) and tokenized:
 * <ul>
 *   <li>text rows (representations, outputs): the templated input, cut to --seq-len; a position counts when a
 *       token follows it (the losses read only that, never which token);
 *   <li>with a writer (generation): the templated input is a prompt, cut to leave room for an answer, which the
 *       writer (the teacher) samples ({@link GeneratedBatches#answer}); the answer's tokens are the targets.
 * </ul>
 * Exact on resume: the order is a function of (seed, index), the template of the templates' state (checkpointed),
 * and answer j of micro-batch i samples with the sequence seed of (seed, i·B + j).
 */
final class DomainBatches implements BatchSource {
    private final List<String> inputs;
    private final Tokenizer tokenizer;
    private final int seqLen, padToken;
    private final BatchSchedule schedule;
    private final PromptTemplates templates;
    private final boolean heldOut;             // templates taken round-robin by row, nothing recorded
    private final Generator writer;            // null: text rows
    private final Sampling sampling;
    private final Map<Batch, int[]> templatesOf = new IdentityHashMap<>();

    DomainBatches(List<String> inputs, Tokenizer tokenizer, int seqLen, int padToken, int batchSize, long seed,
                  PromptTemplates templates, boolean heldOut, Generator writerOrNull, Sampling sampling) {
        if (inputs.isEmpty()) throw new IllegalArgumentException("--data: no unlabelled inputs for a progressive phase");
        this.inputs = inputs;
        this.tokenizer = tokenizer;
        this.seqLen = seqLen;
        this.padToken = padToken;
        this.schedule = new BatchSchedule(inputs.size(), batchSize, seed);
        this.templates = templates;
        this.heldOut = heldOut;
        this.writer = writerOrNull;
        this.sampling = sampling;
    }

    @Override
    public Batch batch(long index) {
        int[] rows = schedule.rowsOf(index);
        int b = rows.length;
        int[] chosen = new int[b];
        for (int i = 0; i < b; i++) chosen[i] = heldOut ? rows[i] % templates.size() : templates.choose(index, i, b);
        int[] in = new int[b * seqLen], tg = new int[b * seqLen], prompts = new int[b];
        Arrays.fill(in, padToken);
        Arrays.fill(tg, CrossEntropy.IGNORE_INDEX);
        // a prompt leaves room for an answer of up to max-new-tokens, and for at least half the row
        int promptRoom = writer == null ? seqLen : Math.max(1, seqLen - Math.min(sampling.maxTokens(), seqLen / 2));
        for (int i = 0; i < b; i++) {
            int[] ids = tokenizer.encodePrompt(templates.render(chosen[i], inputs.get(rows[i])));
            int n = Math.min(ids.length, writer == null ? seqLen + 1 : promptRoom);
            for (int t = 0; t < Math.min(n, seqLen); t++) {
                in[i * seqLen + t] = ids[t];
                if (writer == null && t + 1 < n) tg[i * seqLen + t] = ids[t + 1];
            }
            prompts[i] = n;
        }
        Batch batch = new Batch(in, tg, b, seqLen, rows);
        if (writer != null) batch = GeneratedBatches.answer(batch, prompts, writer, sampling, index, padToken).from("teacher");
        if (!heldOut) templatesOf.put(batch, chosen);
        return batch;
    }

    /** The templates of a batch this source made (and forgets it): one per row. */
    int[] templatesOf(Batch batch) {
        int[] t = templatesOf.remove(batch);
        if (t == null) throw new IllegalStateException("a batch this source did not make");
        return t;
    }

    @Override
    public int batchesPerEpoch() {
        return schedule.batchesPerEpoch();
    }

    @Override
    public int epochOf(long index) {
        return schedule.epochOf(index);
    }
}
