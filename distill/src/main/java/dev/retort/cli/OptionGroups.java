package dev.retort.cli;

import dev.retort.distill.loss.Divergence;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.meta.MetaOptions;
import dev.retort.distill.options.DataOptions;
import dev.retort.distill.options.FeatureOptions;
import dev.retort.distill.options.GkdOptions;
import dev.retort.distill.options.LoraOptions;
import dev.retort.distill.options.ModelOptions;
import dev.retort.distill.options.OutputOptions;
import dev.retort.distill.options.PruneOptions;
import dev.retort.distill.train.TrainingConfig;
import java.nio.file.Path;
import java.util.Arrays;
import picocli.CommandLine.Option;

/**
 * The command-line face of the typed option groups in {@code distill/options} (and {@link TrainingConfig},
 * {@link KdConfig}, {@link MetaOptions}): one picocli mixin per group, each field's default taken from the
 * group's DEFAULTS, each {@code options()} building the group's record, which validates. Commands mix in the
 * groups they take; {@code --config} files fill the same options ({@link ConfigFileDefaults}).
 */
final class OptionGroups {
    private OptionGroups() {}

    /** Teacher, its cache, student. */
    static final class Models {
        @Option(names = "--teacher", description = "Teacher model directory (Hugging Face layout) or GGUF file.")
        Path teacher;
        @Option(names = "--teacher-cache", description = "Teacher top-k cache from 'retort cache-teacher' (the teacher is then not run).")
        Path teacherCache;
        @Option(names = "--student", description = "Student model directory or GGUF file (same tokenizer as the teacher).")
        Path student;
        @Option(names = "--student-layers", description = "Build the student from these teacher layers, e.g. 0,2,4.")
        String studentLayers;

        ModelOptions options() {
            return new ModelOptions(teacher, teacherCache, student, studentLayers);
        }
    }

    /** Training and held-out text. */
    static final class Data {
        @Option(names = "--data", description = "Training data: text (paragraphs) or JSONL ({\"text\"} or {\"prompt\",\"response\"}).")
        Path data;
        @Option(names = "--eval-data", description = "Held-out data file (default: a --held-out fraction of --data).")
        Path evalData;
        @Option(names = "--seq-len", description = "Tokens per sequence (default ${DEFAULT-VALUE}).")
        int seqLen = DataOptions.DEFAULTS.seqLen();
        @Option(names = "--held-out", description = "Fraction of --data held out for evaluation (default ${DEFAULT-VALUE}).")
        double heldOut = DataOptions.DEFAULTS.heldOut();

        DataOptions options() {
            return new DataOptions(data, evalData, seqLen, heldOut);
        }
    }

    /** Steps, batches, schedule, optimizer, seed, evaluation, checkpoints. */
    static final class Training {
        private static final TrainingConfig D = TrainingConfig.DEFAULTS;
        @Option(names = "--max-steps", description = "Optimizer steps (0: use --epochs).")
        long maxSteps = D.maxSteps();
        @Option(names = "--epochs", description = "Passes over the data when --max-steps is 0 (default ${DEFAULT-VALUE}).")
        int epochs = D.epochs();
        @Option(names = "--batch-size", description = "Sequences per micro-batch (default ${DEFAULT-VALUE}).")
        int batchSize = D.batchSize();
        @Option(names = "--grad-accum", description = "Micro-batches per optimizer step (default ${DEFAULT-VALUE}).")
        int gradAccum = D.gradAccum();
        @Option(names = "--lr", description = "Peak learning rate (default ${DEFAULT-VALUE}).")
        double lr = D.lr();
        @Option(names = "--min-lr", description = "Learning rate at the end of the cosine decay (default ${DEFAULT-VALUE}).")
        double minLr = D.minLr();
        @Option(names = "--warmup-steps", description = "Linear warm-up steps (default ${DEFAULT-VALUE}).")
        long warmupSteps = D.warmupSteps();
        @Option(names = "--weight-decay", description = "AdamW weight decay (default ${DEFAULT-VALUE}).")
        double weightDecay = D.weightDecay();
        @Option(names = "--clip", description = "Global gradient-norm clip, 0 = none (default ${DEFAULT-VALUE}).")
        double clip = D.clip();
        @Option(names = "--optimizer", description = "adamw or rmsprop (default ${DEFAULT-VALUE}).")
        String optimizer = D.optimizer();
        @Option(names = "--seed", description = "Seed for data order, initialisation and dropout (default ${DEFAULT-VALUE}).")
        long seed = D.seed();
        @Option(names = "--eval-every", description = "Evaluate every N steps; 0 = at the end (default ${DEFAULT-VALUE}).")
        int evalEvery = D.evalEvery();
        @Option(names = "--eval-batches", description = "Held-out batches per evaluation (default ${DEFAULT-VALUE}).")
        int evalBatches = D.evalBatches();
        @Option(names = "--checkpoint-every", description = "Checkpoint every N steps; 0 = at the end (default ${DEFAULT-VALUE}).")
        int checkpointEvery = D.checkpointEvery();

        TrainingConfig options() {
            return new TrainingConfig(maxSteps, epochs, batchSize, gradAccum, lr, minLr, warmupSteps, weightDecay, clip,
                    optimizer, seed, evalEvery, evalBatches, checkpointEvery);
        }
    }

    /** The student's LoRA adapters. */
    static final class Lora {
        private static final LoraOptions D = LoraOptions.DEFAULTS;
        @Option(names = "--lora-rank", description = "LoRA rank (neo default " + LoraOptions.NEO_RANK + "; with sft: train LoRA adapters).")
        Integer rank;
        @Option(names = "--lora-alpha", description = "LoRA alpha (default ${DEFAULT-VALUE}).")
        double alpha = D.alpha();
        @Option(names = "--lora-dropout", description = "LoRA dropout (default ${DEFAULT-VALUE}).")
        double dropout = D.dropout();
        @Option(names = "--lora-targets", description = "Projections that get adapters, or all-linear (default ${DEFAULT-VALUE}).")
        String targets = String.join(",", D.targets());
        @Option(names = "--rslora", description = "Scale LoRA by α/√r instead of α/r.")
        boolean rsLora = D.rsLora();
        @Option(names = "--lora-plus", description = "LoRA+: learning-rate ratio of B to A (default ${DEFAULT-VALUE} = off).")
        double loraPlus = D.loraPlus();
        @Option(names = "--adapter-type", description = "lora, or bottleneck: Houlsby adapters h + W_up·silu(W_down·h), kept as modules (default ${DEFAULT-VALUE}).")
        String adapterType = D.adapterType();
        @Option(names = "--adapter-size", description = "Bottleneck width (default " + LoraOptions.NEO_RANK + "), or for lora the rank (as --lora-rank).")
        Integer adapterSize;
        @Option(names = "--adapter-placement", description = "Where bottleneck adapters go: attention, mlp or both (default ${DEFAULT-VALUE}).")
        String placement = D.placement();

        LoraOptions options() {
            return new LoraOptions(rank, alpha, dropout, Arrays.asList(targets.split(",")), rsLora, loraPlus, adapterType, adapterSize, placement);
        }
    }

    /** The distillation loss; what is not given comes from the method's defaults ({@link dev.retort.distill.method.Method#kdDefaults}). */
    static final class Kd {
        @Option(names = "--kd-loss", description = "fkl, rkl, jsd, gjsd, skl, srkl or tvd (default fkl; gkd: gjsd).")
        String kdLoss;
        @Option(names = "--temperature", description = "Distillation temperature T (default 2; gkd: 1).")
        Double temperature;
        @Option(names = "--alpha", description = "Weight of KD: (1-α)·CE + α·T²·KD (default 0.5; seqkd: 0, gkd: 1).")
        Double alpha;
        @Option(names = "--beta", description = "β of jsd/gjsd (gjsd: 0 = forward KL, 1 = reverse KL), or the skew of skl/srkl (default 0.5).")
        Double beta;
        @Option(names = "--top-k", description = "Truncate the teacher to its top-k tokens; 0 = full vocabulary (default 0).")
        Integer topK;

        KdConfig options() {
            return options(KdConfig.DEFAULTS);
        }

        /** The flags given, over {@code defaults}. */
        KdConfig options(KdConfig defaults) {
            return new KdConfig(kdLoss == null ? defaults.divergence() : Divergence.parse(kdLoss),
                    temperature == null ? defaults.temperature() : temperature,
                    alpha == null ? defaults.alpha() : alpha,
                    beta == null ? defaults.beta() : beta,
                    topK == null ? defaults.topK() : topK);
        }
    }

    /** Feature KD. */
    static final class Features {
        @Option(names = "--feature-layers", description = "Feature KD pairs student:teacher, e.g. 0:1,1:3.")
        String layers;
        @Option(names = "--feature-loss", description = "mse or cosine (default ${DEFAULT-VALUE}).")
        String loss = "mse";
        @Option(names = "--feature-weight", description = "Weight of the feature loss (default ${DEFAULT-VALUE}).")
        double weight = FeatureOptions.DEFAULTS.weight();

        FeatureOptions options() {
            return FeatureOptions.parse(layers, loss, weight);
        }
    }

    /** On-policy distillation. */
    static final class Gkd {
        @Option(names = "--lambda", description = "gkd: probability that a micro-batch's responses are the student's own samples (default ${DEFAULT-VALUE}).")
        double lambda = GkdOptions.DEFAULTS.lambda();
        @Option(names = "--gen-temperature", description = "gkd: sampling temperature of the generated responses; 0 = greedy (default ${DEFAULT-VALUE}).")
        double genTemperature = GkdOptions.DEFAULTS.genTemperature();
        @Option(names = "--max-new-tokens", description = "gkd: most tokens of a generated response (default ${DEFAULT-VALUE}).")
        int maxNewTokens = GkdOptions.DEFAULTS.maxNewTokens();
        @Option(names = "--seq-kd", description = "gkd: off-policy micro-batches use the teacher's responses instead of the dataset's.")
        boolean seqKd;

        GkdOptions options() {
            return new GkdOptions(lambda, genTemperature, maxNewTokens, seqKd);
        }
    }

    /** Token pruning inside the student. */
    static final class Prune {
        private static final PruneOptions D = PruneOptions.DEFAULTS;
        @Option(names = "--prune-layer", description = "Token pruning (seqkd): before this 0-based student layer, keep --keep-ratio of each prompt's tokens (default: no pruning).")
        Integer layer;
        @Option(names = "--keep-ratio", description = "Fraction of prompt tokens kept by --prune-layer (default ${DEFAULT-VALUE}).")
        double keepRatio = D.keepRatio();
        @Option(names = "--prune-samples", description = "Perturbed top-k noise samples per row (default ${DEFAULT-VALUE}).")
        int samples = D.samples();
        @Option(names = "--prune-sigma", description = "Perturbed top-k noise scale (default ${DEFAULT-VALUE}).")
        double sigma = D.sigma();
        @Option(names = "--prune-mode", description = "learned (a scorer trained end to end), or the baselines attention (most attended at layer L-1) and random (default ${DEFAULT-VALUE}).")
        String mode = D.mode().cliName();
        @Option(names = "--prune-schedule", description = "constant, or anneal: keep ratio 0.9 down to --keep-ratio by 40% of the run, sigma decayed to 0 (default ${DEFAULT-VALUE}).")
        String schedule = D.schedule();
        @Option(names = "--prune-lr-scale", description = "The scorer's learning rate as a multiple of --lr (default ${DEFAULT-VALUE}).")
        double lrScale = D.lrScale();
        @Option(names = "--prune-score-norm", description = "none, or minmax: each row's scores mapped to [0, 1] before the perturbed top-k's noise (default ${DEFAULT-VALUE}).")
        String scoreNorm = D.scoreNorm();

        PruneOptions options() {
            return PruneOptions.parse(layer, keepRatio, samples, sigma, mode, schedule, lrScale, scoreNorm);
        }
    }

    /** The teacher's meta-update. */
    static final class Meta {
        private static final MetaOptions D = MetaOptions.defaults();
        @Option(names = "--meta-update", description = "meta: train the teacher's LoRA (lora) or all its weights (full) (default ${DEFAULT-VALUE}).")
        String update = D.update();
        @Option(names = "--teacher-lr", description = "meta: AdamW learning rate of the teacher's update (default ${DEFAULT-VALUE}).")
        double teacherLr = D.teacherLr();
        @Option(names = "--pilot-lr", description = "meta: λ of the pilot step θ' = θ − λ·∇θL (default ${DEFAULT-VALUE}).")
        double pilotLr = D.pilotLr();
        @Option(names = "--quiz-data", description = "meta: quiz data file (default: a --quiz-fraction of the training rows).")
        Path quizData;
        @Option(names = "--quiz-fraction", description = "meta: training rows set aside as the quiz split (default ${DEFAULT-VALUE}).")
        double quizFraction = D.quizFraction();
        @Option(names = "--fd-step", description = "meta: ε·‖v‖ of the finite-difference second derivative (default ${DEFAULT-VALUE}).")
        double fdStep = D.fdStep();
        @Option(names = "--teacher-lora-rank", description = "meta: rank of the teacher's LoRA (default ${DEFAULT-VALUE}).")
        int teacherLoraRank = D.teacherLoraRank();
        @Option(names = "--teacher-lora-alpha", description = "meta: alpha of the teacher's LoRA (default ${DEFAULT-VALUE}).")
        double teacherLoraAlpha = D.teacherLoraAlpha();

        MetaOptions options() {
            return new MetaOptions(update, teacherLr, pilotLr, quizData, quizFraction, fdStep, teacherLoraRank, teacherLoraAlpha);
        }
    }

    /** Output directory, resume, progress. */
    static final class Output {
        @Option(names = "--out", description = "Output directory: checkpoint, student or adapter, metrics.jsonl, report.html.")
        Path out;
        @Option(names = "--resume", description = "Continue from the checkpoint in --out.")
        boolean resume;
        @Option(names = "--overwrite", description = "Replace the outputs of a previous run in --out (only files Retort wrote).")
        boolean overwrite;
        @Option(names = "--no-progress", description = "No progress bar.")
        boolean noProgress;
        @Option(names = "--core-watts", description = "Power of one busy core, for the energy estimate where RAPL counters cannot be read (default ${DEFAULT-VALUE}).")
        double coreWatts = OutputOptions.DEFAULT_CORE_WATTS;
        @Option(names = "--memory-limit", description = "Refuse a run planned above this much memory, e.g. 8g (default: the memory available now).")
        String memoryLimit;

        OutputOptions options() {
            return new OutputOptions(out, resume, !noProgress, coreWatts, overwrite,
                    memoryLimit == null ? 0 : dev.retort.distill.MemoryPlan.parseBytes(memoryLimit));
        }
    }
}
