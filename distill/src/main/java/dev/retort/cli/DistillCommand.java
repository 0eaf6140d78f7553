package dev.retort.cli;

import dev.retort.distill.DistillJob;
import dev.retort.distill.DistillOptions;
import dev.retort.distill.meta.MetaOptions;
import dev.retort.tensor.ThreadPool;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code retort distill --teacher DIR (--student DIR | --student-layers LIST) --data FILE --out DIR [options]}:
 * trains a student from a teacher. The same options can come from a JSON file with {@code --config}.
 */
@Command(name = "distill", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Distil a teacher into a student (methods: sft, kd, neo, meta).")
final class DistillCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--config", description = "JSON file of options (keys are flag names without dashes); flags given here win.")
    Path config;

    @Option(names = "--teacher", description = "Teacher model directory (Hugging Face layout).")
    Path teacher;
    @Option(names = "--student", description = "Student model directory (same tokenizer as the teacher).")
    Path student;
    @Option(names = "--student-layers", description = "Build the student from these teacher layers, e.g. 0,2,4.")
    String studentLayers;
    @Option(names = "--data", description = "Training data: text (paragraphs) or JSONL ({\"text\"} or {\"prompt\",\"response\"}).")
    Path data;
    @Option(names = "--eval-data", description = "Held-out data file (default: a --held-out fraction of --data).")
    Path evalData;
    @Option(names = "--out", description = "Output directory: checkpoint, student or adapter, metrics.jsonl, report.html.")
    Path out;

    @Option(names = "--method", defaultValue = "neo", description = "sft, kd, neo or meta (default ${DEFAULT-VALUE}).")
    String method;
    @Option(names = "--kd-loss", defaultValue = "fkl", description = "fkl, rkl, jsd, skl, srkl or tvd (default ${DEFAULT-VALUE}).")
    String kdLoss;
    @Option(names = "--temperature", defaultValue = "2.0", description = "Distillation temperature T (default ${DEFAULT-VALUE}).")
    double temperature;
    @Option(names = "--alpha", defaultValue = "0.5", description = "Weight of KD: (1-α)·CE + α·T²·KD (default ${DEFAULT-VALUE}).")
    double alpha;
    @Option(names = "--beta", defaultValue = "0.5", description = "JSD β, or the skew coefficient of skl/srkl (default ${DEFAULT-VALUE}).")
    double beta;
    @Option(names = "--top-k", defaultValue = "0", description = "Truncate the teacher to its top-k tokens; 0 = full vocabulary (default ${DEFAULT-VALUE}).")
    int topK;
    @Option(names = "--teacher-cache", description = "Teacher top-k cache from 'retort cache-teacher' (the teacher is then not run).")
    Path teacherCache;

    @Option(names = "--lora-rank", description = "LoRA rank (neo default 16; with sft: train LoRA adapters).")
    Integer loraRank;
    @Option(names = "--lora-alpha", defaultValue = "32", description = "LoRA alpha (default ${DEFAULT-VALUE}).")
    double loraAlpha;
    @Option(names = "--lora-dropout", defaultValue = "0", description = "LoRA dropout (default ${DEFAULT-VALUE}).")
    double loraDropout;
    @Option(names = "--lora-targets", defaultValue = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
            description = "Projections that get adapters (default ${DEFAULT-VALUE}).")
    String loraTargets;
    @Option(names = "--rslora", description = "Scale LoRA by α/√r instead of α/r.")
    boolean rsLora;
    @Option(names = "--lora-plus", defaultValue = "1", description = "LoRA+: learning-rate ratio of B to A (default ${DEFAULT-VALUE} = off).")
    double loraPlus;

    @Option(names = "--feature-layers", description = "Feature KD pairs student:teacher, e.g. 0:1,1:3.")
    String featureLayers;
    @Option(names = "--feature-loss", defaultValue = "mse", description = "mse or cosine (default ${DEFAULT-VALUE}).")
    String featureLoss;
    @Option(names = "--feature-weight", defaultValue = "1.0", description = "Weight of the feature loss (default ${DEFAULT-VALUE}).")
    double featureWeight;

    @Option(names = "--meta-update", defaultValue = "lora", description = "meta: train the teacher's LoRA (lora) or all its weights (full) (default ${DEFAULT-VALUE}).")
    String metaUpdate;
    @Option(names = "--teacher-lr", defaultValue = "1e-4", description = "meta: AdamW learning rate of the teacher's update (default ${DEFAULT-VALUE}).")
    double teacherLr;
    @Option(names = "--pilot-lr", defaultValue = "1e-2", description = "meta: λ of the pilot step θ' = θ − λ·∇θL (default ${DEFAULT-VALUE}).")
    double pilotLr;
    @Option(names = "--quiz-data", description = "meta: quiz data file (default: a --quiz-fraction of the training rows).")
    Path quizData;
    @Option(names = "--quiz-fraction", defaultValue = "0.1", description = "meta: training rows set aside as the quiz split (default ${DEFAULT-VALUE}).")
    double quizFraction;
    @Option(names = "--fd-step", defaultValue = "1e-2", description = "meta: ε·‖v‖ of the finite-difference second derivative (default ${DEFAULT-VALUE}).")
    double fdStep;
    @Option(names = "--teacher-lora-rank", defaultValue = "8", description = "meta: rank of the teacher's LoRA (default ${DEFAULT-VALUE}).")
    int teacherLoraRank;
    @Option(names = "--teacher-lora-alpha", defaultValue = "16", description = "meta: alpha of the teacher's LoRA (default ${DEFAULT-VALUE}).")
    double teacherLoraAlpha;

    @Option(names = "--max-steps", defaultValue = "0", description = "Optimizer steps (0: use --epochs).")
    long maxSteps;
    @Option(names = "--epochs", defaultValue = "1", description = "Passes over the data when --max-steps is 0 (default ${DEFAULT-VALUE}).")
    int epochs;
    @Option(names = "--batch-size", defaultValue = "8", description = "Sequences per micro-batch (default ${DEFAULT-VALUE}).")
    int batchSize;
    @Option(names = "--grad-accum", defaultValue = "1", description = "Micro-batches per optimizer step (default ${DEFAULT-VALUE}).")
    int gradAccum;
    @Option(names = "--seq-len", defaultValue = "256", description = "Tokens per sequence (default ${DEFAULT-VALUE}).")
    int seqLen;
    @Option(names = "--lr", defaultValue = "2e-4", description = "Peak learning rate (default ${DEFAULT-VALUE}).")
    double lr;
    @Option(names = "--min-lr", defaultValue = "0", description = "Learning rate at the end of the cosine decay (default ${DEFAULT-VALUE}).")
    double minLr;
    @Option(names = "--warmup-steps", defaultValue = "0", description = "Linear warm-up steps (default ${DEFAULT-VALUE}).")
    long warmupSteps;
    @Option(names = "--weight-decay", defaultValue = "0", description = "AdamW weight decay (default ${DEFAULT-VALUE}).")
    double weightDecay;
    @Option(names = "--clip", defaultValue = "1.0", description = "Global gradient-norm clip, 0 = none (default ${DEFAULT-VALUE}).")
    double clip;
    @Option(names = "--optimizer", defaultValue = "adamw", description = "adamw or rmsprop (default ${DEFAULT-VALUE}).")
    String optimizer;
    @Option(names = "--seed", defaultValue = "42", description = "Seed for data order, initialisation and dropout (default ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Option(names = "--held-out", defaultValue = "0.05", description = "Fraction of --data held out for evaluation (default ${DEFAULT-VALUE}).")
    double heldOut;
    @Option(names = "--eval-every", defaultValue = "0", description = "Evaluate every N steps; 0 = at the end (default ${DEFAULT-VALUE}).")
    int evalEvery;
    @Option(names = "--eval-batches", defaultValue = "8", description = "Held-out batches per evaluation (default ${DEFAULT-VALUE}).")
    int evalBatches;
    @Option(names = "--checkpoint-every", defaultValue = "0", description = "Checkpoint every N steps; 0 = at the end (default ${DEFAULT-VALUE}).")
    int checkpointEvery;
    @Option(names = "--resume", description = "Continue from the checkpoint in --out.")
    boolean resume;
    @Option(names = "--no-progress", description = "No progress bar.")
    boolean noProgress;

    @Override
    public Integer call() throws Exception {
        ConfigFileDefaults.apply(spec, config);
        require(teacher, "--teacher");
        require(data, "--data");
        require(out, "--out");
        if (threads != null) ThreadPool.setSharedThreads(threads);
        DistillOptions options = new DistillOptions(teacher, student, studentLayers, data, evalData, out,
                method, kdLoss, temperature, alpha, beta, topK, teacherCache,
                loraRank, loraAlpha, loraDropout, loraTargets, rsLora, loraPlus,
                featureLayers, featureLoss, featureWeight,
                maxSteps, epochs, batchSize, gradAccum, seqLen, lr, minLr, warmupSteps, weightDecay, clip, seed,
                heldOut, evalEvery, evalBatches, checkpointEvery, resume, !noProgress, optimizer,
                new MetaOptions(metaUpdate, teacherLr, pilotLr, quizData, quizFraction, fdStep, teacherLoraRank, teacherLoraAlpha));
        DistillJob.Outcome outcome = DistillJob.run(options);
        var eval = outcome.training().finalEval();
        if (eval != null) {
            System.out.printf(Locale.ROOT, "held-out: student ppl %.3f, teacher ppl %.3f, top-1 agreement %.3f%n",
                    eval.perplexity(), outcome.teacherEval() == null ? Double.NaN : outcome.teacherEval().perplexity(), eval.agreement());
        }
        System.out.println((outcome.adapterDir() != null ? "adapter: " + outcome.adapterDir() : "student: " + outcome.studentDir())
                + "  report: " + outcome.report());
        return 0;
    }

    private static void require(Object value, String flag) {
        if (value == null) throw new IllegalArgumentException(flag + " is required (on the command line or in --config)");
    }
}
