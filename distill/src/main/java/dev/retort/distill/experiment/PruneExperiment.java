package dev.retort.distill.experiment;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.retort.distill.DistillJob;
import dev.retort.distill.OutputDirectory;
import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.data.Example;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.demo.BpeTrainer;
import dev.retort.distill.demo.DocumentWorld;
import dev.retort.distill.demo.ScratchTeacher;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.meta.MetaOptions;
import dev.retort.distill.options.DataOptions;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.options.FeatureOptions;
import dev.retort.distill.options.GkdOptions;
import dev.retort.distill.options.LoraOptions;
import dev.retort.distill.options.ModelOptions;
import dev.retort.distill.options.OutputOptions;
import dev.retort.distill.options.PruneOptions;
import dev.retort.distill.qa.QaFormat;
import dev.retort.distill.qa.QaMetrics;
import dev.retort.distill.qa.Sgp;
import dev.retort.distill.report.HtmlReport;
import dev.retort.distill.train.ResourceUse;
import dev.retort.distill.train.TrainingConfig;
import dev.retort.models.Llm;
import dev.retort.models.llama.Generator;
import dev.retort.models.llama.LlamaInference;
import dev.retort.models.llama.TokenPruning;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import dev.retort.tensor.Tensor;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * {@code retort experiment prune}: learned token pruning (PrunePert, Ragazzi et al. 2024) against the heuristics it
 * replaces, on long-context question answering over the {@link DocumentWorld}.
 * <ol>
 *   <li>a teacher is trained from scratch to answer a question about one of several passages given together (the
 *       one that answers it among distractors, {@link DocumentWorld#longContextQuestions}), on other worlds' facts:
 *       first with one passage, then, where the size asks for it, with distractors ({@link #trainTeacher});
 *   <li>for each seed, students — a copy of all the teacher's layers, so that pruning is the only difference — are
 *       distilled with {@code seqkd} (gold answers, plus token-level KD from the unpruned teacher at α = 0.5) on a
 *       third world's long-context questions: one unpruned, and one per keep ratio and pruning mode ({@code learned}
 *       through the perturbed top-k, {@code attention}, {@code random}), every prompt token but the last competing
 *       at layer {@code pruneLayer};
 *   <li>on held-out questions about a fourth world, each model answers greedily with the pruning it was trained
 *       with: exact match and F1, the prefill time of the prompt (the median over prompts of each one's fastest of
 *       three passes, after the JIT is warmed) and the KV-cache bytes it leaves; and the training step time of each
 *       arm.
 * </ol>
 */
public final class PruneExperiment implements Experiment {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The modes compared at each keep ratio below 1. */
    static final List<TokenPruning.Mode> MODES = List.of(TokenPruning.Mode.LEARNED, TokenPruning.Mode.ATTENTION, TokenPruning.Mode.RANDOM);
    /** The weight of token-level KD from the unpruned teacher in the students' loss (the rest is the gold answers' CE). */
    static final double ALPHA = 0.5;
    /** Tokens generated for an answer (every answer of the world is one or two words). */
    static final int ANSWER_TOKENS = 6;

    /** Sizes; {@link #standard()} is what bench/RESULTS.md records, {@link #quick()} what --quick runs. */
    public record Size(int people, int passages, int teacherExamples, int trainExamples, int goldQuestions, int vocab, int dim,
                       int layers, int heads, int kvHeads, int hidden, int seq, int batch, int teacherWorlds, int teacherReadSteps, int teacherSteps,
                       double teacherLr, int studentSteps,
                       int pruneLayer, List<Double> keepRatios, PruneOptions pruning) {
        public Size {
            keepRatios = List.copyOf(keepRatios);
            if (teacherReadSteps < 1 || teacherSteps < 0) {
                throw new IllegalArgumentException("teacher steps: " + teacherReadSteps + " on one passage (at least 1), then " + teacherSteps + " (at least 0)");
            }
            if (pruneLayer < 0 || pruneLayer >= layers) throw new IllegalArgumentException("pruneLayer " + pruneLayer + " is not a layer of " + layers);
        }

        /**
         * The perturbed top-k and the scorer's training as the learned arms use them (the layer, keep ratio and mode
         * are each arm's): {@code samples} noise samples, otherwise the command line's defaults (σ 0.1 of each row's
         * min-max normalised scores, the scorer's lr {@value PruneOptions#DEFAULT_LR_SCALE} times the student's).
         */
        static PruneOptions pruning(int samples) {
            return PruneOptions.DEFAULTS.withSamples(samples);
        }

        public static Size standard() {
            return new Size(400, 4, 24000, 2000, 100, 512, 128, 4, 4, 2, 384, 320, 8, 100, 6000, 0, 1e-3, 200, 1, List.of(0.7, 0.5), pruning(64));
        }

        public static Size quick() {
            return new Size(80, 3, 1500, 400, 30, 384, 64, 3, 2, 1, 192, 288, 8, 10, 150, 150, 1e-3, 30, 1, List.of(0.5), pruning(8));
        }

        String studentLayers() {
            return IntStream.range(0, layers).mapToObj(Integer::toString).collect(Collectors.joining(","));
        }
    }

    /** One arm: a pruning mode ("none" for the unpruned student) at a keep ratio. */
    record Arm(String mode, double keepRatio) {
        String name() {
            return mode.equals("none") ? "unpruned" : String.format(Locale.ROOT, "%s keep %.1f", mode, keepRatio);
        }
    }

    /** One model's scores for one seed (the teacher's row is the same for every seed). */
    public record Row(long seed, String arm, String mode, double keepRatio, int questions, double exactMatch, double f1,
                      double prefillMs, double kvBytes, double trainMsPerStep, double scorerCosine) {}

    @Override
    public String name() {
        return "prune";
    }

    @Override
    public String description() {
        return "Ragazzi et al. 2024 (PrunePert): learned token pruning vs attention-score and random pruning on long-context QA";
    }

    @Override
    public Outcome run(Path out, boolean quick, int seeds, PrintStream log) throws IOException {
        return run(out, quick ? Size.quick() : Size.standard(), seeds, log);
    }

    public static Outcome run(Path out, Size size, int seeds, PrintStream log) throws IOException {
        if (seeds < 1) throw new IllegalArgumentException("--seeds must be at least 1, got " + seeds);
        Files.createDirectories(out);
        for (String previous : List.of("teacher", "tokenizer", "teacher-run")) OutputDirectory.fresh(out.resolve(previous));
        Path results = out.resolve("results.jsonl");
        Files.deleteIfExists(results);

        // 1. the teacher, on one world's long contexts
        ResourceUse teacherUse = trainTeacher(out, size, log);
        Path teacher = out.resolve("teacher");
        // 2. the students' data (another world) and the held-out questions (a third)
        Path train = out.resolve("student-train.jsonl"), heldOut = out.resolve("student-heldout.jsonl");
        DocumentWorld studentWorld = new DocumentWorld(3, size.people());
        writePromptCompletion(studentWorld.longContextQuestions(5, size.trainExamples(), size.passages(), false), train);
        writePromptCompletion(studentWorld.longContextQuestions(6, 40, size.passages(), false), heldOut);
        List<DocumentWorld.LongQuestion> gold = new DocumentWorld(1, size.people()).longContextQuestions(2, size.goldQuestions(), size.passages(), true);

        List<Row> rows = new ArrayList<>();
        try (Llm t = Llm.open(teacher)) {
            prefill(t, gold, WARM_UP_PASSES);
            Scores s = evaluate(t, gold);
            for (long seed = 1; seed <= seeds; seed++) rows.add(new Row(seed, "teacher", "none", 1.0, gold.size(), s.em, s.f1, s.prefillMs, s.kvBytes, Double.NaN, Double.NaN));
            log.printf(Locale.ROOT, "prune: teacher EM %.3f F1 %.3f prefill %.1f ms KV %.0f bytes%n", s.em, s.f1, s.prefillMs, s.kvBytes);
        }
        List<Arm> arms = new ArrayList<>(List.of(new Arm("none", 1.0)));
        for (double keep : size.keepRatios()) for (TokenPruning.Mode m : MODES) arms.add(new Arm(m.cliName(), keep));
        for (long seed = 1; seed <= seeds; seed++) {
            for (Arm arm : arms) {
                Path run = out.resolve("student-" + arm.name().replace(' ', '-') + "-" + seed);
                DistillJob.Outcome o = trainStudent(teacher, train, heldOut, run, size, arm, seed);
                double msPerStep = 1000 * o.training().seconds() / Math.max(1, o.training().steps());
                try (Llm student = Llm.open(o.studentDir())) {
                    Scores s = evaluate(student, gold);
                    double cosine = scorerCosineToInit(student);
                    rows.add(new Row(seed, arm.name(), arm.mode(), arm.keepRatio(), gold.size(), s.em, s.f1, s.prefillMs, s.kvBytes, msPerStep, cosine));
                    log.printf(Locale.ROOT, "prune: seed %d %-22s EM %.3f F1 %.3f prefill %.1f ms KV %.0f bytes, %.0f ms/step%s%n",
                            seed, arm.name(), s.em, s.f1, s.prefillMs, s.kvBytes, msPerStep,
                            Double.isNaN(cosine) ? "" : String.format(Locale.ROOT, ", scorer cosine to its init %.3f", cosine));
                }
            }
        }
        StringBuilder lines = new StringBuilder();
        for (Row r : rows) lines.append(json(r)).append('\n');
        Files.writeString(results, lines, StandardCharsets.UTF_8);
        List<Finding> findings = findings(rows, size);
        Path report = out.resolve("report.html");
        writeReport(report, rows, findings, size, seeds, teacherUse);
        return new Outcome(TABLE_HEADER, table(rows), findings, results, report);
    }

    public static final List<String> TABLE_HEADER = List.of("model", "EM", "F1", "prefill ms", "KV cache KB", "train ms / step");

    /** Mean ± sd over seeds of each model's scores, in the order they ran. */
    static List<List<String>> table(List<Row> rows) {
        List<List<String>> table = new ArrayList<>();
        for (var e : byArm(rows).entrySet()) {
            List<Row> r = e.getValue();
            table.add(List.of(e.getKey(), Stats.meanSd(values(r, Row::exactMatch)), Stats.meanSd(values(r, Row::f1)),
                    String.format(Locale.ROOT, "%.1f", Stats.mean(values(r, Row::prefillMs))),
                    String.format(Locale.ROOT, "%.1f", Stats.mean(values(r, Row::kvBytes)) / 1024),
                    Double.isNaN(r.getFirst().trainMsPerStep()) ? "-" : String.format(Locale.ROOT, "%.0f", Stats.mean(values(r, Row::trainMsPerStep)))));
        }
        return table;
    }

    /**
     * The paper's two claims, judged by rules: (1) at each keep ratio the learned scorer's exact match beats the better
     * of attention-score and random pruning ({@link Stats#beats}); (2) pruning buys speed — at the smallest keep ratio
     * the learned student's prefill is faster than the unpruned student's by more than 10%.
     */
    static List<Finding> findings(List<Row> rows, Size size) {
        Map<String, List<Row>> arms = byArm(rows);
        List<Finding> findings = new ArrayList<>();
        for (double keep : size.keepRatios()) {
            double[] learned = values(arms.getOrDefault(new Arm("learned", keep).name(), List.of()), Row::exactMatch);
            double[] attention = values(arms.getOrDefault(new Arm("attention", keep).name(), List.of()), Row::exactMatch);
            double[] random = values(arms.getOrDefault(new Arm("random", keep).name(), List.of()), Row::exactMatch);
            if (learned.length == 0 || attention.length == 0 || random.length == 0) continue;
            double[] best = Stats.mean(attention) >= Stats.mean(random) ? attention : random;
            String bestName = best == attention ? "attention-score" : "random";
            Verdict v = Stats.beats(learned, best);
            findings.add(new Finding(String.format(Locale.ROOT, "A scorer trained end to end through the perturbed top-k keeps the "
                    + "tokens that matter better than the heuristics it replaces (here at keep ratio %.1f).", keep),
                    String.format(Locale.ROOT, "exact match %s learned, %s attention-score, %s random, over %d seed(s); the unpruned "
                            + "student %s", Stats.meanSd(learned), Stats.meanSd(attention), Stats.meanSd(random), learned.length,
                            Stats.meanSd(values(arms.getOrDefault("unpruned", List.of()), Row::exactMatch))) + "; best heuristic: " + bestName, v));
        }
        double smallest = size.keepRatios().stream().mapToDouble(Double::doubleValue).min().orElse(1);
        List<Row> pruned = arms.getOrDefault(new Arm("learned", smallest).name(), List.of()), unpruned = arms.getOrDefault("unpruned", List.of());
        if (!pruned.isEmpty() && !unpruned.isEmpty()) {
            double p = Stats.mean(values(pruned, Row::prefillMs)), u = Stats.mean(values(unpruned, Row::prefillMs));
            double kvP = Stats.mean(values(pruned, Row::kvBytes)), kvU = Stats.mean(values(unpruned, Row::kvBytes));
            double stepP = Stats.mean(values(pruned, Row::trainMsPerStep)), stepU = Stats.mean(values(unpruned, Row::trainMsPerStep));
            findings.add(new Finding("Pruning the context's tokens saves compute at inference and in training (the paper: nearly 2x "
                    + "over a strong efficient baseline on long scientific documents).", String.format(Locale.ROOT, "at keep ratio %.1f "
                    + "from layer %d of %d: prefill %.1f ms against %.1f ms unpruned (%.2fx), KV cache %.0f KB against %.0f KB (%.2fx), "
                    + "training step %.0f ms against %.0f ms (%.2fx)", smallest, size.pruneLayer(), size.layers(), p, u, u / p,
                    kvP / 1024, kvU / 1024, kvU / kvP, stepP, stepU, stepU / stepP), u / p > 1.1 ? Verdict.HOLDS : Verdict.DOES_NOT_HOLD));
        }
        return findings;
    }

    private static Map<String, List<Row>> byArm(List<Row> rows) {
        Map<String, List<Row>> arms = new LinkedHashMap<>();
        for (Row r : rows) arms.computeIfAbsent(r.arm(), k -> new ArrayList<>()).add(r);
        return arms;
    }

    private static double[] values(List<Row> rows, java.util.function.ToDoubleFunction<Row> f) {
        return rows.stream().mapToDouble(f).toArray();
    }

    private record Scores(double em, double f1, double prefillMs, double kvBytes) {}

    /**
     * How far a learned scorer trained: the cosine between its weight and its initialisation (rebuilt from the
     * seed it saved, as {@link TokenPruning} draws it). Near 1 means it hardly moved; NaN for other arms.
     */
    static double scorerCosineToInit(Llm student) {
        TokenPruning trained = student.model().pruning();
        if (trained == null || trained.settings().mode() != TokenPruning.Mode.LEARNED) return Double.NaN;
        try (Arena arena = Arena.ofConfined()) {
            Tensor w0 = new TokenPruning(trained.settings(), trained.scorer().inFeatures(), arena).scorer().weight().value();
            Tensor w = trained.scorer().weight().value();
            double dot = 0, n0 = 0, n = 0;
            for (long i = 0; i < w.size(); i++) {
                dot += (double) w0.getFlat(i) * w.getFlat(i);
                n0 += (double) w0.getFlat(i) * w0.getFlat(i);
                n += (double) w.getFlat(i) * w.getFlat(i);
            }
            return dot / Math.sqrt(n0 * n);
        }
    }

    /**
     * {@code model} answers each question greedily over its long context (EM, F1); then its prefill is timed
     * ({@link #prefill}, {@value #TIMING_PASSES} passes) with the bytes of cache each prompt fills.
     */
    private static Scores evaluate(Llm model, List<DocumentWorld.LongQuestion> gold) {
        double em = 0, f1 = 0;
        for (DocumentWorld.LongQuestion q : gold) {
            String answer = model.generate(QaFormat.answerPrompt(q.context(), q.question()), Sgp.greedy(ANSWER_TOKENS), piece -> { }).text().strip();
            em += QaMetrics.exactMatch(answer, q.answer());
            f1 += QaMetrics.f1(answer, q.answer());
        }
        Prefill p = prefill(model, gold, TIMING_PASSES);
        return new Scores(em / gold.size(), f1 / gold.size(), p.medianMs(), p.kvBytes());
    }

    /**
     * Passes over the questions when a model's prefill is timed: each prompt's time is its fastest pass. On this
     * machine the JIT takes some 300 prefills to settle (the median falls from ~9 ms to ~3.5 ms), so timing one pass
     * per model made whichever model was timed first look slow and favoured the models timed later, the pruned ones.
     */
    static final int TIMING_PASSES = 3;
    /** Untimed passes of the teacher's prefill before anything is timed, so that the first model timed is warm too. */
    static final int WARM_UP_PASSES = 3;

    /** A model's prefill: the median over prompts of each one's fastest time, and the mean KV-cache bytes it fills. */
    record Prefill(double medianMs, double kvBytes) {}

    /** Each question's prompt prefilled alone in a fresh KV-cache session, {@code passes} times. */
    static Prefill prefill(Llm model, List<DocumentWorld.LongQuestion> gold, int passes) {
        Generator generator = new Generator(model.model(), model.tokenizer());
        List<int[]> prompts = gold.stream().map(q -> generator.promptIds(QaFormat.answerPrompt(q.context(), q.question()))).toList();
        double[] ms = new double[gold.size()];
        Arrays.fill(ms, Double.POSITIVE_INFINITY);
        double kv = 0;
        for (int pass = 0; pass < passes; pass++) {
            for (int i = 0; i < prompts.size(); i++) {
                int[] ids = prompts.get(i);
                try (LlamaInference session = new LlamaInference(model.model(), ids.length + 1, 64)) {
                    long start = System.nanoTime();
                    session.forward(ids);
                    ms[i] = Math.min(ms[i], (System.nanoTime() - start) / 1e6);
                    if (pass == 0) kv += session.cacheBytes(0);
                }
            }
        }
        Arrays.sort(ms);
        return new Prefill(ms[ms.length / 2], kv / gold.size());
    }

    /**
     * The teacher: trained from scratch at lr {@code teacherLr} in one or two stages, each on {@code teacherExamples}
     * prompt/completion rows drawn from {@code teacherWorlds} worlds (so no fact can be memorised, only read). Stage
     * "read" gives one passage per question; stage "find", when {@code teacherSteps > 0}, one to {@code passages}, the
     * answer among distractors (at the standard size it is skipped: 4,000 such steps after 6,000 on one passage left
     * the teacher's four-passage exact match where it was, bench/RESULTS.md). Half the rows of each are questions
     * (loss on the answer only), half "recall" rows (loss on copying the context back): the copying is what answering
     * a question needs, and it forms only at a low enough learning rate and with enough steps (bench/RESULTS.md, "Why
     * the prune teacher does not read"). The tokenizer learns from both stages' text, whether or not "find" trains.
     */
    private static ResourceUse trainTeacher(Path out, Size size, PrintStream log) throws IOException {
        Path read = out.resolve("teacher-read.jsonl"), find = out.resolve("teacher-find.jsonl"), heldOut = out.resolve("teacher-heldout.jsonl");
        StringBuilder text = new StringBuilder();
        List<DocumentWorld> worlds = IntStream.range(0, size.teacherWorlds()).mapToObj(w -> new DocumentWorld(20000 + 97L * w, size.people())).toList();
        Files.writeString(read, teacherRows(worlds, size.teacherExamples(), 1, 11, text), StandardCharsets.UTF_8);
        Files.writeString(find, teacherRows(worlds, size.teacherExamples(), size.passages(), 12, text), StandardCharsets.UTF_8);
        writePromptCompletion(new DocumentWorld(7919, size.people()).longContextQuestions(4, 40, size.passages(), false), heldOut);
        Path tokenizerDir = out.resolve("tokenizer");
        BpeTrainer.train(text.toString(), size.vocab(), tokenizerDir);
        Tokenizer tokenizer = Tokenizers.load(tokenizerDir);
        List<Example> heldRows = CorpusReader.read(heldOut, tokenizer);
        int longest = heldRows.stream().mapToInt(e -> e.tokens().length).max().orElse(0);
        if (longest + ANSWER_TOKENS > size.seq()) {
            throw new IllegalArgumentException("prune: a context of " + size.passages() + " passages takes up to " + longest
                    + " tokens, more than the sequence length " + size.seq() + " less " + ANSWER_TOKENS + " for the answer");
        }
        List<ScratchTeacher.Stage> stages = new ArrayList<>(List.of(new ScratchTeacher.Stage("read",
                PackedData.pack(CorpusReader.read(read, tokenizer), size.seq(), tokenizer.eosId()), size.teacherReadSteps(), size.teacherLr())));
        if (size.teacherSteps() > 0) {
            stages.add(new ScratchTeacher.Stage("find", PackedData.pack(CorpusReader.read(find, tokenizer), size.seq(), tokenizer.eosId()),
                    size.teacherSteps(), size.teacherLr()));
        }
        PackedData held = PackedData.pack(heldRows, size.seq(), tokenizer.eosId());
        log.printf(Locale.ROOT, "prune: teacher of %d layers, dim %d, trained %d steps on one passage%s (questions up to %d tokens)%n",
                size.layers(), size.dim(), size.teacherReadSteps(),
                size.teacherSteps() > 0 ? ", then " + size.teacherSteps() + " on one to " + size.passages() : "", longest);
        int steps = size.teacherReadSteps() + size.teacherSteps();
        return ScratchTeacher.train(stages, held, tokenizer.vocabSize(), new ScratchTeacher.Shape(size.dim(), size.layers(), size.heads(),
                size.kvHeads(), size.hidden(), size.seq()), size.batch(), 1, Math.max(1, steps / 4), tokenizerDir, out.resolve("teacher-run"),
                out.resolve("teacher"), "long-context qa teacher");
    }

    /** What a recall row's context is followed by before it is copied. */
    static final String RECALL_CUE = "\nagain:";

    /**
     * {@code count} prompt/completion lines, one to {@code maxPassages} passages each (uniformly), taking the worlds
     * in turn: a question answered, or (half of them) the context recalled after {@link #RECALL_CUE}. Each question
     * answered in full is appended to {@code text}, the tokenizer's training text.
     */
    private static String teacherRows(List<DocumentWorld> worlds, int count, int maxPassages, long seed, StringBuilder text) {
        SplittableRandom r = new SplittableRandom(seed);
        StringBuilder lines = new StringBuilder();
        for (int k = 0; k < count; k++) {
            DocumentWorld world = worlds.get(k % worlds.size());
            DocumentWorld.LongQuestion q = world.longContextQuestions(r.nextLong(), 1, 1 + r.nextInt(maxPassages), false).getFirst();
            boolean recall = r.nextBoolean();
            String prompt = recall ? QaFormat.passage(q.context()) + RECALL_CUE : QaFormat.answerPrompt(q.context(), q.question());
            String completion = " " + (recall ? q.context().strip() : q.answer());
            lines.append(JSON.createObjectNode().put("prompt", prompt).put("completion", completion)).append('\n');
            text.append(QaFormat.answered(q.context(), q.question(), q.answer())).append("\n\n");
        }
        return lines.toString();
    }

    private static void writePromptCompletion(List<DocumentWorld.LongQuestion> questions, Path file) throws IOException {
        StringBuilder lines = new StringBuilder();
        for (DocumentWorld.LongQuestion q : questions) {
            lines.append(JSON.createObjectNode().put("prompt", QaFormat.answerPrompt(q.context(), q.question())).put("completion", " " + q.answer()))
                    .append('\n');
        }
        Files.writeString(file, lines, StandardCharsets.UTF_8);
    }

    private static DistillJob.Outcome trainStudent(Path teacher, Path train, Path heldOut, Path run, Size size, Arm arm, long seed)
            throws IOException {
        OutputDirectory.fresh(run);
        PruneOptions prune = arm.mode().equals("none") ? PruneOptions.DEFAULTS
                : size.pruning().at(size.pruneLayer(), arm.keepRatio(), TokenPruning.Mode.parse(arm.mode()));
        DistillOptions o = new DistillOptions("seqkd", new ModelOptions(teacher, null, null, size.studentLayers()),
                DataOptions.DEFAULTS.withFiles(train, heldOut).withSeqLen(size.seq()),
                TrainingConfig.DEFAULTS.withSteps(size.studentSteps(), size.batch(), 1e-3, 1e-4, size.studentSteps() / 20)
                        .withSeed(seed).withEvaluation(0, 4, 0),
                LoraOptions.DEFAULTS, KdConfig.DEFAULTS.withAlpha(ALPHA), FeatureOptions.DEFAULTS, MetaOptions.defaults(), GkdOptions.DEFAULTS,
                prune, new OutputOptions(run, false, true));
        return DistillJob.run(o);
    }

    private static ObjectNode json(Row r) {
        ObjectNode n = JSON.createObjectNode().put("seed", r.seed()).put("model", r.arm()).put("mode", r.mode()).put("keep_ratio", r.keepRatio())
                .put("questions", r.questions()).put("exact_match", r.exactMatch()).put("f1", r.f1()).put("prefill_ms", r.prefillMs())
                .put("kv_cache_bytes", r.kvBytes());
        if (!Double.isNaN(r.trainMsPerStep())) n.put("train_ms_per_step", r.trainMsPerStep());
        if (!Double.isNaN(r.scorerCosine())) n.put("scorer_cosine_to_init", r.scorerCosine());
        return n;
    }

    private static void writeReport(Path file, List<Row> rows, List<Finding> findings, Size size, int seeds, ResourceUse teacherUse) {
        HtmlReport report = new HtmlReport("Retort experiment: learned token pruning (PrunePert) on long-context QA");
        report.paragraph(String.format(Locale.ROOT, "Each question comes with %d passages of the document world, one of which answers "
                + "it. Teacher: %d layers, dim %d, trained from scratch at lr %.0e, %d steps on one passage then %d on one to %d (half the rows "
                + "questions, half the context recalled), over %d worlds (%s). Students: all its layers, distilled %d steps with "
                + "seqkd (gold answers + token-level KD from the unpruned teacher, alpha %.1f) on another world's questions, pruned before "
                + "layer %d with %d perturbed top-k samples at sigma %.2f (scores normalised: %s), the scorer's lr %s times theirs; %d seed(s); "
                + "%d held-out questions about a third world.",
                size.passages(), size.layers(), size.dim(), size.teacherLr(), size.teacherReadSteps(), size.teacherSteps(), size.passages(),
                size.teacherWorlds(), teacherUse.summary(), size.studentSteps(), ALPHA,
                size.pruneLayer(), size.pruning().samples(), size.pruning().sigma(), size.pruning().scoreNorm(), size.pruning().lrScale(), seeds,
                size.goldQuestions()));
        for (Finding f : findings) report.finding(f.claim(), f.measured(), f.verdict().words);
        report.table("Answers and cost (mean ± sd over seeds; prefill is the median over questions of the fastest of " + TIMING_PASSES + " passes)", TABLE_HEADER, table(rows));
        Map<String, List<double[]>> em = new LinkedHashMap<>();
        Map<String, List<Row>> arms = byArm(rows);
        List<Row> unpruned = arms.getOrDefault("unpruned", List.of());
        for (TokenPruning.Mode m : MODES) {
            List<double[]> points = new ArrayList<>();
            if (!unpruned.isEmpty()) points.add(new double[] {1.0, Stats.mean(values(unpruned, Row::exactMatch))});
            for (double keep : size.keepRatios()) {
                List<Row> r = arms.getOrDefault(new Arm(m.cliName(), keep).name(), List.of());
                if (!r.isEmpty()) points.add(new double[] {keep, Stats.mean(values(r, Row::exactMatch))});
            }
            em.put(m.cliName(), points);
        }
        report.chart("Exact match against the keep ratio (1.0 is the unpruned student)", "keep ratio", "exact match", em);
        report.write(file);
    }
}
