package dev.retort.distill.method;

import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.options.LoraOptions;
import dev.retort.distill.train.Objective;
import dev.retort.distill.train.TrainingConfig;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.llama.LayerSelection;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.adapter.BottleneckModel;
import dev.retort.models.llama.TokenPruning;
import dev.retort.models.lora.Lora;
import dev.retort.models.tokenizer.ChatTemplate;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A run's loaded world, as a {@link Method} sees it when it makes its plan: the options, the teacher and student
 * models (the student built from its own directory or from teacher layers), the tokenizer and the teacher's chat
 * template (conversations in the data are rendered with it), and the data read and
 * packed once (training rows and held-out rows). The arena owns every tensor; closing the workspace frees them.
 */
public final class Workspace implements AutoCloseable {
    private final DistillOptions options;
    private final Arena arena;
    private final ModelWeights teacherWeights;
    private final ModelWeights studentWeights;   // null when the student is made of teacher layers
    private final Tokenizer tokenizer;
    private final ChatTemplate chatTemplate;     // null when the teacher has none
    private final LlamaModel teacher;
    private final LlamaModel student;
    private final PackedData train;
    private final PackedData heldOut;

    private Workspace(DistillOptions options, Method method) throws IOException {
        this.options = options;
        this.arena = Arena.ofShared();
        Path teacherDir = options.models().teacher();
        ModelWeights studentFile = null;
        try {
            this.teacherWeights = ModelWeights.open(teacherDir);
            LlamaConfig teacherConfig = LlamaConfig.read(teacherDir);
            this.tokenizer = Tokenizers.load(teacherDir);
            this.chatTemplate = ChatTemplate.read(teacherDir, tokenizer).orElse(null);
            this.teacher = LlamaModel.load(teacherConfig, teacherWeights, arena, method.trainsTeacherWeights(options));
            LlamaConfig studentConfig;
            ModelWeights studentSource;
            if (options.models().student() != null) {
                Path dir = options.models().student();
                studentConfig = LlamaConfig.read(dir);
                checkSameTokenizer(teacherDir, tokenizer, dir, Tokenizers.load(dir));
                studentFile = ModelWeights.open(dir);
                studentSource = studentFile;
            } else {
                int[] keep = LayerSelection.parse(options.models().studentLayers(), teacherConfig.numHiddenLayers());
                studentConfig = LayerSelection.config(teacherConfig, keep);
                studentSource = LayerSelection.weights(teacherWeights, keep);
            }
            this.studentWeights = studentFile;
            this.student = LlamaModel.load(studentConfig, studentSource, arena, method.trainsStudentWeights(options));
            int context = Math.min(teacherConfig.maxPositionEmbeddings(), studentConfig.maxPositionEmbeddings());
            if (options.data().seqLen() > context) {
                throw new IllegalArgumentException("--seq-len " + options.data().seqLen() + " exceeds the models' context of "
                        + context + " tokens (max_position_embeddings)");
            }

            PackedData all = pack(options.data().data());
            if (options.data().evalData() != null) {
                this.train = all;
                this.heldOut = pack(options.data().evalData());
            } else {
                PackedData[] split = all.split(options.data().heldOut());
                this.train = split[0];
                this.heldOut = split[1];
            }
        } catch (IOException | RuntimeException | Error e) {
            closeQuietly(studentFile);
            arena.close();
            throw e;
        }
    }

    /** Loads what a run of {@code method} needs. */
    public static Workspace open(DistillOptions options, Method method) throws IOException {
        return new Workspace(options, method);
    }

    public DistillOptions options() { return options; }

    public TrainingConfig training() { return options.training(); }

    public Arena arena() { return arena; }

    public Tokenizer tokenizer() { return tokenizer; }

    public LlamaModel teacher() { return teacher; }

    public LlamaModel student() { return student; }

    /** The training rows (all of --data when --eval-data is given, else what --held-out leaves). */
    public PackedData train() { return train; }

    public PackedData heldOut() { return heldOut; }

    /** A data file read with the run's tokenizer and packed into rows of --seq-len tokens, as --data is. */
    public PackedData pack(Path file) throws IOException {
        return PackedData.pack(CorpusReader.read(file, tokenizer, chatTemplate), options.data().seqLen(), padToken());
    }

    /** A data file's examples, read with the run's tokenizer and chat template as --data is. */
    public List<dev.retort.distill.data.Example> examples(Path file) throws IOException {
        return CorpusReader.read(file, tokenizer, chatTemplate);
    }

    /** The token that pads rows past their end: EOS where the tokenizer has one, else 0. */
    public int padToken() {
        return Math.max(0, tokenizer.eosId());
    }

    /**
     * The training examples of --data one per row, prompt first ({@link PackedData#perExample}), for methods that
     * answer the prompts themselves; the held-out part is left out as for {@link #train}.
     */
    public PackedData examplesForTraining() throws IOException {
        PackedData all = PackedData.perExample(CorpusReader.read(options.data().data(), tokenizer, chatTemplate), options.data().seqLen(), padToken());
        PackedData rows = options.data().evalData() != null ? all : all.split(options.data().heldOut())[0];
        if (rows.rows() == 0) {
            throw new IllegalArgumentException("--data " + options.data().data() + ": no prompt/response examples whose prompt fits in --seq-len "
                    + options.data().seqLen() + " (expected JSONL lines {\"prompt\": …, \"response\": …})");
        }
        return rows;
    }

    /**
     * The single phase of a method that trains the student on {@code objective} over {@code rows}: every weight, or
     * adapters of a frozen student when --lora-rank, --adapter-size or --adapter-type bottleneck is given.
     */
    public Plan studentPhase(String name, Objective objective, PackedData rows) {
        List<Parameter> scorer = attachPruning();
        StudentAdapters adapters = options.lora().adapted() ? attachStudentAdapters() : null;
        List<Parameter> trained = adapters == null ? student.trainableParameters() : adapters.parameters();
        List<ParamGroup> groups = new ArrayList<>(adapters == null ? groups(trained) : groups(adapters));
        if (!scorer.isEmpty()) groups.add(new ParamGroup(scorer, options.prune().lrScale(), options.training().weightDecay()));
        return Plan.of(schedulePruning(phase(name, objective, concat(trained, scorer), groups, rows)), adapters);
    }

    /**
     * With --prune-layer: token pruning on the student ({@link TokenPruning}, its scorer initialised from --seed,
     * its scores min-max normalised in training with --prune-score-norm minmax); returns the scorer's parameters
     * when they train (--prune-mode learned), else nothing. They get an optimizer group of their own at
     * --prune-lr-scale times the student's learning rate.
     */
    private List<Parameter> attachPruning() {
        if (!options.prune().enabled()) return List.of();
        TokenPruning pruning = new TokenPruning(options.prune().settings(options.training().seed()), student.config().hiddenSize(), arena);
        pruning.setNormalizeScores(options.prune().normalizeScores());
        student.setPruning(pruning);
        return pruning.trainableParameters();
    }

    /** The pruning's keep ratio and σ over the phase's steps (--prune-schedule). */
    private Phase schedulePruning(Phase phase) {
        if (student.pruning() != null) student.pruning().setSchedule(options.prune().pruneSchedule(phase.steps()));
        return phase;
    }

    /**
     * Adapters on the student, of --adapter-type: LoRA with --lora-* (rank {@link LoraOptions#NEO_RANK} when
     * neither --lora-rank nor --adapter-size is given), or bottleneck adapters of --adapter-size (default the same)
     * at --adapter-placement. They are initialised from --seed.
     */
    public StudentAdapters attachStudentAdapters() {
        LoraOptions o = options.lora();
        long seed = options.training().seed();
        return o.bottleneck() ? new StudentAdapters.Bottleneck(BottleneckModel.attach(student, o.bottleneckConfig(seed)))
                : new StudentAdapters.Lora(Lora.attach(student, o.config(LoraOptions.NEO_RANK, seed)));
    }

    /** The optimizer groups of a student trained through its adapters: LoRA's A and B apart for LoRA+. */
    public List<ParamGroup> groups(StudentAdapters adapters) {
        return adapters.groups(options.training().weightDecay(), options.lora().loraPlus());
    }

    /** One group over {@code params} with the run's weight decay. */
    public List<ParamGroup> groups(List<Parameter> params) {
        return List.of(ParamGroup.of(params, options.training().weightDecay()));
    }

    /**
     * The phase every single-phase method runs: {@code objective} on {@code rows} in the seeded order of
     * --seed, for --max-steps (or --epochs) steps of the run's schedule and optimizer.
     */
    public Phase phase(String name, Objective objective, List<Parameter> trainable, List<ParamGroup> groups, PackedData rows) {
        if (rows.rows() == 0) {
            throw new IllegalArgumentException(options.data().data() + ": too little text for one sequence of "
                    + options.data().seqLen() + " tokens");
        }
        return Phase.standard(name, objective, trainable, groups, options.training(), rows);
    }

    /** Concatenates parameter lists (trainable weights, then learned projections, say). */
    public static List<Parameter> concat(List<Parameter> a, List<Parameter> b) {
        List<Parameter> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
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

    private static void closeQuietly(AutoCloseable c) {
        if (c == null) return;
        try {
            c.close();
        } catch (Exception ignored) {
            // already failing
        }
    }

    @Override
    public void close() {
        closeQuietly(studentWeights);
        closeQuietly(teacherWeights);
        arena.close();
    }
}
