package dev.retort.distill.progressive;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.LrSchedule;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.BatchSource;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.loss.LayerMap;
import dev.retort.distill.method.EarlyStop;
import dev.retort.distill.method.KdMethod;
import dev.retort.distill.method.Method;
import dev.retort.distill.method.Phase;
import dev.retort.distill.method.Plan;
import dev.retort.distill.method.StudentAdapters;
import dev.retort.distill.method.Workspace;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.options.FeatureOptions;
import dev.retort.distill.options.ProgressiveOptions;
import dev.retort.distill.options.ProgressiveOptions.PhaseSettings;
import dev.retort.distill.train.StepLoss;
import dev.retort.distill.train.TrainingConfig;
import dev.retort.models.Sampling;
import dev.retort.models.llama.Generator;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code progressive}: progressive distillation with adapters and no labels (after Saxena, Janzen and Maass,
 * NAACL 2025 SRW; see {@link ProgressiveOptions} for Retort's reading and every setting). The student is a frozen
 * base with adapters (LoRA or bottleneck, {@code --adapter-type}); the plan is one {@link Phase} per entry of
 * --phases, by default representations (logit-lens cross-entropy, the lower layers' adapters), outputs
 * (token-level KD, all adapters) and generation (sequence-level KD on the teacher's samples, all adapters), each
 * with its own steps, learning rate, temperature and trainable set, and with --phase-patience an early end.
 * Every phase reads the unlabelled inputs of --data ({@link DomainInputs}): never a label.
 */
public final class ProgressiveMethod implements Method {
    private static final Pattern LAYER = Pattern.compile("layers\\.(\\d+)\\.");

    @Override
    public String name() {
        return "progressive";
    }

    /** All of the divergence (no label term), at T = 2 unless --temperature or --phase-temperature says otherwise. */
    @Override
    public KdConfig kdDefaults() {
        return KdConfig.DEFAULTS.withAlpha(1);
    }

    @Override
    public void check(DistillOptions options) {
        if (options.models().teacherCache() != null) {
            throw new IllegalArgumentException("--teacher-cache: --method progressive reads the teacher's intermediate layers and "
                    + "samples from it; use the live --teacher");
        }
        ProgressiveOptions p = options.progressive();
        if (p.phases().contains("representations") && p.lensWeight() == 0 && options.features().layers() == null) {
            throw new IllegalArgumentException("--lens-weight 0 leaves the representations phase no loss: give --feature-layers, "
                    + "or a --lens-weight above 0");
        }
        if (p.patience() > 0 && options.training().evalEvery() == 0) {
            throw new IllegalArgumentException("--phase-patience " + p.patience() + " measures each phase's held-out loss every "
                    + "--eval-every steps: give --eval-every above 0");
        }
    }

    @Override
    public boolean trainsStudentWeights(DistillOptions options) {
        return false;
    }

    @Override
    public Plan plan(Workspace run) throws IOException {
        DistillOptions o = run.options();
        ProgressiveOptions p = o.progressive();
        TrainingConfig training = o.training();
        StudentAdapters adapters = run.attachStudentAdapters();
        int studentLayers = run.student().config().numHiddenLayers(), teacherLayers = run.teacher().config().numHiddenLayers();
        LayerMap lens = (p.lensLayers() == null ? LayerMap.uniform(studentLayers, teacherLayers) : p.lensLayers())
                .validate(studentLayers, teacherLayers);
        FeatureOptions f = o.features();
        LayerMap features = f.layers() == null ? null : f.layers().validate(studentLayers, teacherLayers);
        Map<Integer, Parameter> projections = KdMethod.projections(features, run.student().config(), run.teacher().config(),
                run.arena(), training.seed());

        List<String> inputs = DomainInputs.of(run.examples(o.data().data()), run.tokenizer());
        List<String> train, heldOut;
        if (o.data().evalData() != null) {
            train = inputs;
            heldOut = DomainInputs.of(run.examples(o.data().evalData()), run.tokenizer());
        } else {
            List<List<String>> split = DomainInputs.split(inputs, o.data().heldOut());
            train = split.get(0);
            heldOut = split.get(1);
        }
        if (train.isEmpty()) throw new IllegalArgumentException("--data " + o.data().data() + ": no unlabelled inputs to train on");
        PromptTemplates templates = p.promptTemplates() == null ? PromptTemplates.identity(run.arena())
                : new PromptTemplates(PromptTemplates.read(p.promptTemplates()), p.templateEta(), p.templateExplore(), training.seed(), run.arena());
        Sampling sampling = new Sampling(o.gkd().maxNewTokens(), (float) o.gkd().genTemperature(), 0, 1, training.seed());
        Generator writer = Generator.tokensOnly(run.teacher(), run.tokenizer().eosId());

        int batchesPerEpoch = Math.max(1, train.size() / training.batchSize());
        List<PhaseSettings> settings = p.resolve(training.totalSteps(batchesPerEpoch), training.lr(), o.kd().temperature());
        List<Phase> phases = new ArrayList<>();
        MergedPhases merged = new MergedPhases();
        java.util.Set<Integer> switchedOn = new java.util.TreeSet<>();   // layers whose adapters an earlier phase trained
        for (int i = 0; i < settings.size(); i++) {
            PhaseSettings s = settings.get(i);
            ProgressiveObjective.Kind kind = ProgressiveObjective.Kind.valueOf(s.kind().toUpperCase(java.util.Locale.ROOT));
            boolean generates = kind == ProgressiveObjective.Kind.GENERATION;
            long seed = training.seed() + i;   // each phase its own order
            DomainBatches data = new DomainBatches(train, run.tokenizer(), o.data().seqLen(), run.padToken(), training.batchSize(),
                    seed, templates, false, generates ? writer : null, sampling);
            ProgressiveObjective objective = new ProgressiveObjective(kind, run.student(), run.teacher(), s.temperature(),
                    lens, p.lensWeight(), kind == ProgressiveObjective.Kind.REPRESENTATIONS ? features : null, f.weight(), f.cosine(),
                    projections, data, templates);
            if (p.merge()) {
                merged.add(objective, data);
                continue;
            }
            List<Parameter> chosen = select(adapters.parameters(), s.trainable(), studentLayers);
            if (chosen.isEmpty()) {
                throw new IllegalArgumentException("--phase-trainable " + s.trainable() + ": the " + studentLayers + "-layer student has no such "
                        + "adapters for phase " + s.kind());
            }
            List<Parameter> maps = kind == ProgressiveObjective.Kind.REPRESENTATIONS ? new ArrayList<>(projections.values()) : List.of();
            TrainingConfig phaseConfig = training.withSteps(s.steps(), training.batchSize(), s.lr(), Math.min(training.minLr(), s.lr()),
                    Math.min(training.warmupSteps(), s.steps()));
            LrSchedule schedule = phaseConfig.schedule(s.steps());
            EarlyStop early = p.patience() == 0 || heldOut.isEmpty() ? null : new EarlyStop(p.patience(), training.evalEvery(),
                    heldOutLoss(objective, new DomainBatches(heldOut, run.tokenizer(), o.data().seqLen(), run.padToken(),
                            training.batchSize(), seed, templates, true, generates ? writer : null, sampling), training.evalBatches()));

            // one stage, or with --progressive-unfreeze one per layer switched on (see stages)
            List<List<Parameter>> stages = p.unfreeze() ? stages(chosen, switchedOn, s.steps()) : List.of(chosen);
            long stageStart = 0;
            for (int j = 0; j < stages.size(); j++) {
                boolean last = j == stages.size() - 1;
                long steps = last ? s.steps() - stageStart : s.steps() / stages.size();
                List<Parameter> trainable = Workspace.concat(stages.get(j), maps);
                List<ParamGroup> groups = new ArrayList<>(restrict(run.groups(adapters), trainable));
                if (!maps.isEmpty()) groups.addAll(run.groups(maps));
                long offset = stageStart, microOffset = stageStart * training.gradAccum();
                phases.add(new Phase(stages.size() == 1 ? s.kind() : s.kind() + "/" + (j + 1), objective, trainable, groups,
                        phaseConfig::optimizer, shifted(data, microOffset), steps, step -> schedule.lr(step + offset), last ? early : null));
                stageStart += steps;
            }
            for (Parameter q : chosen) switchedOn.add(layerOf(q));
        }
        if (p.merge()) phases.add(merged(run, adapters, features == null ? List.of() : new ArrayList<>(projections.values()), merged,
                training.totalSteps(batchesPerEpoch)));
        return new Plan(phases, adapters, List.of());
    }

    /** --merge-phases: one phase of {@code steps} at --lr, every adapter (and feature projection) trainable. */
    private static Phase merged(Workspace run, StudentAdapters adapters, List<Parameter> maps, MergedPhases merged, long steps) {
        TrainingConfig training = run.options().training();
        List<ParamGroup> groups = new ArrayList<>(run.groups(adapters));
        if (!maps.isEmpty()) groups.addAll(run.groups(maps));
        return new Phase("merged", merged, Workspace.concat(adapters.parameters(), maps), groups, training::optimizer, merged, steps,
                training.schedule(steps));
    }

    /**
     * Progressive unfreezing: a phase's adapters switched on from the bottom layer upwards. Layers an earlier phase
     * already trained stay on from the start; each further layer of the phase's set opens a new stage, which trains
     * the adapters of every layer on so far. Stage j of s gets steps/s steps (the last the remainder), at most one
     * stage per step; each is a phase of its own to the trainer (a fresh optimizer, its part of the phase's
     * schedule and batches), and only the last may end early.
     */
    static List<List<Parameter>> stages(List<Parameter> adapters, java.util.Set<Integer> switchedOn, long steps) {
        java.util.TreeSet<Integer> layers = new java.util.TreeSet<>();
        for (Parameter q : adapters) layers.add(layerOf(q));
        List<Integer> fresh = layers.stream().filter(l -> !switchedOn.contains(l)).toList();
        int count = (int) Math.max(1, Math.min(fresh.size(), steps));
        List<List<Parameter>> out = new ArrayList<>();
        for (int j = 0; j < count; j++) {
            // stage j: every layer already on, and the fresh layers up to the (j + 1)-th (the last stage: all of them)
            int upTo = j == count - 1 ? Integer.MAX_VALUE : fresh.get(j);
            List<Parameter> stage = adapters.stream().filter(q -> switchedOn.contains(layerOf(q)) || layerOf(q) <= upTo).toList();
            out.add(stage);
        }
        return out;
    }

    /** {@code data} from micro-batch {@code offset} on: a stage continues its phase's batches. */
    private static BatchSource shifted(BatchSource data, long offset) {
        if (offset == 0) return data;
        return new BatchSource() {
            @Override
            public Batch batch(long index) {
                return data.batch(index + offset);
            }

            @Override
            public int batchesPerEpoch() {
                return data.batchesPerEpoch();
            }

            @Override
            public int epochOf(long index) {
                return data.epochOf(index + offset);
            }
        };
    }

    /**
     * The adapters of {@code which} layers: {@code lower} those of layers below ⌈L/2⌉, {@code upper} the others,
     * {@code all} every one (a parameter's layer is the {@code layers.N.} in its name).
     */
    static List<Parameter> select(List<Parameter> adapters, String which, int layers) {
        if (which.equals("all")) return adapters;
        int middle = (layers + 1) / 2;
        List<Parameter> out = new ArrayList<>();
        for (Parameter q : adapters) {
            boolean lower = layerOf(q) < middle;
            if (lower == which.equals("lower")) out.add(q);
        }
        return out;
    }

    static int layerOf(Parameter q) {
        Matcher m = LAYER.matcher(q.name());
        if (!m.find()) throw new IllegalStateException("adapter parameter " + q.name() + " names no layer");
        return Integer.parseInt(m.group(1));
    }

    /** The groups cut down to {@code keep} (LoRA+ splits survive); empty groups dropped. */
    static List<ParamGroup> restrict(List<ParamGroup> groups, List<Parameter> keep) {
        List<ParamGroup> out = new ArrayList<>();
        for (ParamGroup g : groups) {
            List<Parameter> kept = g.parameters().stream().filter(keep::contains).toList();
            if (!kept.isEmpty()) out.add(new ParamGroup(kept, g.lrScale(), g.weightDecay()));
        }
        return out;
    }

    /**
     * The phase's objective over the first {@code batches} held-out micro-batches (made once: a generation phase's
     * held-out answers are sampled once, by the frozen teacher), per counted position, without gradients.
     */
    private static java.util.function.ToDoubleFunction<BufferPool> heldOutLoss(ProgressiveObjective objective, DomainBatches heldOut, int batches) {
        Map<Integer, Batch> made = new HashMap<>();
        int n = Math.min(batches, heldOut.batchesPerEpoch());
        return pool -> {
            double sum = 0, count = 0;
            for (int i = 0; i < n; i++) {
                Batch batch = made.computeIfAbsent(i, heldOut::batch);
                double divisor = Math.max(1, batch.targetCount());
                try (Graph g = Graph.noGrad(pool)) {
                    StepLoss s = objective.loss(g, batch, divisor, 0);
                    sum += s.loss().item() * divisor;
                    count += divisor;
                }
            }
            return sum / Math.max(1, count);
        };
    }
}
