package dev.retort.distill;

import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.AdamW;
import dev.retort.autograd.optim.Optimizer;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.autograd.optim.RmsProp;
import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.loss.Divergence;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.loss.LayerMap;
import dev.retort.distill.meta.MetaObjective;
import dev.retort.distill.meta.MetaOptions;
import dev.retort.distill.meta.MetaTeacher;
import dev.retort.distill.report.HtmlReport;
import dev.retort.distill.train.Evaluator;
import dev.retort.distill.train.KdObjective;
import dev.retort.distill.train.MetricsLog;
import dev.retort.distill.train.Objective;
import dev.retort.distill.train.SftObjective;
import dev.retort.distill.train.Trainer;
import dev.retort.distill.train.TrainingConfig;
import dev.retort.models.export.ModelExporter;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.llama.LayerSelection;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.lora.Lora;
import dev.retort.models.lora.LoraConfig;
import dev.retort.models.lora.LoraModel;
import dev.retort.models.lora.PeftAdapter;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * One distillation run from a teacher directory to a student: loads the models and data, picks the objective
 * for the method, runs the {@link Trainer}, and writes the student (or adapter), metrics and report.
 * <ul>
 *   <li>{@code sft}: cross-entropy only (all student parameters, or LoRA when a rank is given);
 *   <li>{@code kd}: (1−α)·CE + α·T²·KD on all student parameters;
 *   <li>{@code neo} (LLM-Neo): the same loss on LoRA adapters of a frozen student;
 *   <li>{@code meta} (MetaDistil with a LoRA or full teacher meta-update, see {@link MetaObjective}): the kd loss
 *       on all student parameters, with a teacher that learns from the student's quiz results.
 * </ul>
 */
public final class DistillJob {
    /** What a run produced. */
    public record Outcome(Trainer.Result training, Evaluator.Result teacherEval, Path studentDir, Path adapterDir, Path report) {}

    private DistillJob() {}

    public static Outcome run(DistillOptions o) throws IOException {
        String method = o.method().toLowerCase(Locale.ROOT);
        if (!List.of("sft", "kd", "neo", "meta").contains(method)) {
            throw new IllegalArgumentException("--method must be sft, kd, neo or meta, got '" + o.method() + "'");
        }
        if ((method.equals("kd") || method.equals("meta")) && o.loraRank() != null) {
            throw new IllegalArgumentException("--lora-rank goes with --method neo (or sft); " + method + " trains every student parameter");
        }
        boolean meta = method.equals("meta");
        if (meta) checkMeta(o);
        if ((o.student() == null) == (o.studentLayers() == null)) {
            throw new IllegalArgumentException("give exactly one of --student DIR and --student-layers LIST");
        }
        Files.createDirectories(o.out());

        try (Arena arena = Arena.ofShared(); ModelWeights teacherWeights = ModelWeights.open(o.teacher())) {
            LlamaConfig teacherConfig = LlamaConfig.read(o.teacher());
            Tokenizer tokenizer = Tokenizers.load(o.teacher());
            // the full meta-update trains F32 copies of every teacher weight
            LlamaModel teacher = LlamaModel.load(teacherConfig, teacherWeights, arena, meta && o.meta().full());

            boolean lora = method.equals("neo") || o.loraRank() != null;
            boolean fullStudent = !lora;
            LlamaConfig studentConfig;
            ModelWeights studentWeights;
            Path studentSourceDir;
            if (o.student() != null) {
                studentConfig = LlamaConfig.read(o.student());
                checkSameTokenizer(o.teacher(), tokenizer, o.student(), Tokenizers.load(o.student()));
                studentWeights = ModelWeights.open(o.student());
                studentSourceDir = o.student();
            } else {
                int[] keep = LayerSelection.parse(o.studentLayers(), teacherConfig.numHiddenLayers());
                studentConfig = LayerSelection.config(teacherConfig, keep);
                studentWeights = LayerSelection.weights(teacherWeights, keep);
                studentSourceDir = null;
            }
            LlamaModel student = LlamaModel.load(studentConfig, studentWeights, arena, fullStudent);
            LoraModel adapters = null;
            if (lora) {
                int rank = o.loraRank() == null ? 16 : o.loraRank();
                LoraConfig loraConfig = new LoraConfig(rank, o.loraAlpha(), o.loraDropout(),
                        Arrays.asList(o.loraTargets().split(",")), o.rsLora(), o.seed());
                adapters = Lora.attach(student, loraConfig);
            }

            // data
            PackedData all = PackedData.pack(CorpusReader.read(o.data(), tokenizer), o.seqLen(), Math.max(0, tokenizer.eosId()));
            PackedData train, heldOut;
            if (o.evalData() != null) {
                train = all;
                heldOut = PackedData.pack(CorpusReader.read(o.evalData(), tokenizer), o.seqLen(), Math.max(0, tokenizer.eosId()));
            } else {
                PackedData[] split = all.split(o.heldOut());
                train = split[0];
                heldOut = split[1];
            }
            PackedData quiz = null;
            if (meta) {
                if (o.meta().quizData() != null) {
                    quiz = PackedData.pack(CorpusReader.read(o.meta().quizData(), tokenizer), o.seqLen(), Math.max(0, tokenizer.eosId()));
                } else {
                    PackedData[] split = train.split(o.meta().quizFraction());
                    train = split[0];
                    quiz = split[1];
                }
                if (quiz.rows() == 0) {
                    throw new IllegalArgumentException((o.meta().quizData() != null ? o.meta().quizData() + ": too little text for"
                            : "--quiz-fraction " + o.meta().quizFraction() + " of the training rows leaves no") + " quiz sequence of " + o.seqLen() + " tokens");
                }
            }
            if (train.rows() == 0) throw new IllegalArgumentException(o.data() + ": too little text for one sequence of " + o.seqLen() + " tokens");

            // objective
            final LoraModel loraModel = adapters;
            List<Parameter> trainable = lora ? loraModel.parameters() : student.trainableParameters();
            java.util.function.DoubleFunction<List<ParamGroup>> groups = lora
                    ? wd -> loraModel.paramGroups(wd, o.loraPlus())
                    : wd -> List.of(ParamGroup.of(student.trainableParameters(), wd));
            Objective objective;
            MetaTeacher metaTeacher = null;
            if (meta) {
                KdConfig kd = new KdConfig(Divergence.parse(o.kdLoss()), o.temperature(), o.alpha(), o.beta(), o.topK());
                MetaOptions m = o.meta();
                metaTeacher = m.full() ? MetaTeacher.full(teacher, m.teacherLr())
                        : MetaTeacher.lora(teacher, m.teacherLoraRank(), m.teacherLoraAlpha(), o.seed(), m.teacherLr());
                objective = new MetaObjective(student, trainable, groups, metaTeacher, kd, quiz, o.batchSize(), o.seed(),
                        m.pilotLr(), m.fdStep(), new MetricsLog(o.out().resolve("meta.jsonl")));
            } else if (method.equals("sft")) {
                objective = lora ? new LoraSft(student, loraModel, o.loraPlus()) : new SftObjective(student);
            } else {
                KdConfig kd = new KdConfig(Divergence.parse(o.kdLoss()), o.temperature(), o.alpha(), o.beta(), o.topK());
                LayerMap features = o.featureLayers() == null ? null : LayerMap.parse(o.featureLayers())
                        .validate(studentConfig.numHiddenLayers(), teacherConfig.numHiddenLayers());
                Map<Integer, Parameter> projections = projections(features, studentConfig, teacherConfig, arena, o.seed());
                List<Parameter> all2 = new ArrayList<>(trainable);
                all2.addAll(projections.values());
                java.util.function.DoubleFunction<List<ParamGroup>> withProjections = wd -> {
                    List<ParamGroup> g = new ArrayList<>(groups.apply(wd));
                    if (!projections.isEmpty()) g.add(ParamGroup.of(new ArrayList<>(projections.values()), wd));
                    return g;
                };
                objective = new KdObjective(method, student, o.teacherCache() == null ? teacher : null,
                        o.teacherCache() == null ? null : TeacherCaches.source(o.teacherCache(), train, tokenizer, kd),
                        kd, all2, withProjections, features, o.featureWeight(), "cosine".equals(o.featureLoss()), projections);
            }

            Function<List<ParamGroup>, Optimizer> optimizer = switch (o.optimizer().toLowerCase(Locale.ROOT)) {
                case "adamw" -> g -> new AdamW(g, o.lr());
                case "rmsprop" -> g -> new RmsProp(g, o.lr());
                default -> throw new IllegalArgumentException("--optimizer must be adamw or rmsprop, got '" + o.optimizer() + "'");
            };
            TrainingConfig config = new TrainingConfig(o.maxSteps(), o.epochs(), o.batchSize(), o.gradAccum(), o.lr(),
                    o.minLr(), o.warmupSteps(), o.weightDecay(), o.clip(), o.seed(), o.evalEvery(), o.evalBatches(),
                    o.checkpointEvery(), o.out(), o.progress());
            Trainer trainer = new Trainer(config, objective, student, teacher, train, heldOut,
                    o.numericSettings().toString(), optimizer);
            Trainer.Result result = trainer.run(o.resume());

            // outputs
            Path studentDir = null, adapterDir = null;
            if (lora) {
                Path base = studentSourceDir;
                if (base == null) {
                    base = o.out().resolve("student-base");
                    replaceDirectory(base);
                    ModelExporter.save(student, null, o.teacher(), base, DType.F32);
                }
                adapterDir = o.out().resolve("adapter");
                replaceDirectory(adapterDir);
                PeftAdapter.save(adapterDir, loraModel, base.toAbsolutePath().toString());
            } else {
                studentDir = o.out().resolve("student");
                replaceDirectory(studentDir);
                ModelExporter.save(student, null, o.teacher(), studentDir, DType.F32);
            }
            if (metaTeacher != null && metaTeacher.lora() != null) {
                Path teacherAdapter = o.out().resolve("teacher-adapter");
                replaceDirectory(teacherAdapter);
                PeftAdapter.save(teacherAdapter, metaTeacher.lora(), o.teacher().toAbsolutePath().toString());
            } else if (metaTeacher != null) {
                Path updatedTeacher = o.out().resolve("teacher");
                replaceDirectory(updatedTeacher);
                ModelExporter.save(teacher, null, o.teacher(), updatedTeacher, DType.F32);
            }
            Evaluator.Result teacherEval = null;
            if (heldOut.rows() > 0) {
                try (dev.retort.autograd.BufferPool pool = new dev.retort.autograd.BufferPool()) {
                    teacherEval = Evaluator.evaluate(teacher, null, heldOut, o.evalBatches() * o.batchSize(),
                            Math.min(4, o.batchSize()), pool);
                }
            }
            Path report = writeReport(o, result, teacherEval);
            return new Outcome(result, teacherEval, studentDir, adapterDir, report);
        }
    }

    /** What meta-distillation does not combine with. */
    private static void checkMeta(DistillOptions o) {
        if (o.teacherCache() != null) throw new IllegalArgumentException("--method meta updates the teacher, so it cannot read it from --teacher-cache");
        if (o.featureLayers() != null) throw new IllegalArgumentException("--method meta does not support --feature-layers");
        if (o.gradAccum() != 1) {
            throw new IllegalArgumentException("--method meta needs --grad-accum 1 (the teacher changes after every batch), got " + o.gradAccum());
        }
    }

    /** Learned maps from teacher width to student width for feature pairs whose widths differ. */
    private static Map<Integer, Parameter> projections(LayerMap features, LlamaConfig student, LlamaConfig teacher,
                                                       Arena arena, long seed) {
        Map<Integer, Parameter> out = new LinkedHashMap<>();
        if (features == null || student.hiddenSize() == teacher.hiddenSize()) return out;
        java.util.SplittableRandom random = new java.util.SplittableRandom(seed ^ 0x5eed);
        int cs = student.hiddenSize(), ct = teacher.hiddenSize();
        for (LayerMap.Pair pair : features.pairs()) {
            int layer = pair.student();
            if (out.containsKey(layer)) continue;
            float[] w = new float[ct * cs];
            double bound = 1 / Math.sqrt(ct);
            for (int i = 0; i < w.length; i++) w[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
            out.put(layer, new Parameter("feature_projection." + layer + ".weight", Tensor.of(arena, w, ct, cs), true));
        }
        return out;
    }

    static void checkSameTokenizer(Path teacherDir, Tokenizer teacher, Path studentDir, Tokenizer student) {
        if (teacher.vocabSize() != student.vocabSize()) {
            throw new IllegalArgumentException("the student's tokenizer (" + studentDir + ", " + student.vocabSize()
                    + " tokens) differs from the teacher's (" + teacherDir + ", " + teacher.vocabSize() + " tokens); "
                    + "logit distillation needs one vocabulary");
        }
        for (int id = 0; id < teacher.vocabSize(); id++) {
            if (!teacher.token(id).equals(student.token(id))) {
                throw new IllegalArgumentException("the student's tokenizer (" + studentDir + ") differs from the teacher's ("
                        + teacherDir + "): token " + id + " is '" + student.token(id) + "' vs '" + teacher.token(id) + "'");
            }
        }
    }

    private static Path writeReport(DistillOptions o, Trainer.Result result, Evaluator.Result teacherEval) {
        List<Map<String, Object>> rows = new MetricsLog(o.out().resolve("metrics.jsonl")).read();
        HtmlReport report = new HtmlReport("Retort distillation: " + o.method() + " from " + o.teacher().getFileName());
        Map<String, List<double[]>> loss = new LinkedHashMap<>();
        loss.put("loss", HtmlReport.series(rows, "loss"));
        loss.put("cross-entropy", HtmlReport.series(rows, "ce"));
        if (!HtmlReport.series(rows, "kd").isEmpty()) loss.put("KD divergence", HtmlReport.series(rows, "kd"));
        report.chart("Training loss", "nats / token", loss);
        report.chart("Held-out perplexity", "perplexity", HtmlReport.one("student", HtmlReport.series(rows, "eval_ppl")));
        if (!HtmlReport.series(rows, "eval_agreement").isEmpty()) {
            report.chart("Top-1 agreement with the teacher (held out)", "fraction",
                    HtmlReport.one("student", HtmlReport.series(rows, "eval_agreement")));
        }
        List<List<String>> table = new ArrayList<>();
        if (teacherEval != null) table.add(List.of("teacher", fmt(teacherEval.perplexity()), "1.000", "0"));
        Evaluator.Result s = result.finalEval();
        if (s != null) table.add(List.of("student (" + o.method() + ")", fmt(s.perplexity()), fmt(s.agreement()), fmt(s.kl())));
        report.table("Held-out evaluation", List.of("model", "perplexity", "top-1 agreement", "KL(teacher‖model)"), table);
        report.paragraph(String.format(Locale.ROOT, "%d steps, %,d tokens in %.1f s.", result.steps(), result.tokens(), result.seconds()));
        report.settings("Settings", o.numericSettings());
        Path file = o.out().resolve("report.html");
        report.write(file);
        return file;
    }

    static String fmt(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.3f", v);
    }

    /** SFT of LoRA adapters: the student's cross-entropy, training only the adapters. */
    private record LoraSft(LlamaModel student, LoraModel adapters, double loraPlus) implements Objective {
        @Override
        public dev.retort.distill.train.StepLoss loss(dev.retort.autograd.Graph g, dev.retort.distill.data.Batch batch, double divisor, long step) {
            return new SftObjective(student).loss(g, batch, divisor, step);
        }

        @Override
        public List<ParamGroup> parameterGroups(double weightDecay) {
            return adapters.paramGroups(weightDecay, loraPlus);
        }

        @Override
        public List<Parameter> trainable() {
            return adapters.parameters();
        }

        @Override
        public String name() {
            return "sft";
        }
    }

    /** Removes an output directory of a previous run of this job (the run is about to write it anew). */
    public static void replaceDirectory(Path dir) {
        if (!Files.exists(dir)) return;
        try (var all = Files.walk(dir)) {
            for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot replace the previous output: " + e.getMessage(), e);
        }
    }
}
