package dev.retort.distill.meta;

import dev.retort.distill.DistillJob;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.method.Phase;
import dev.retort.distill.method.Plan;
import dev.retort.distill.options.DataOptions;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.options.FeatureOptions;
import dev.retort.distill.options.LoraOptions;
import dev.retort.distill.options.ModelOptions;
import dev.retort.distill.options.OutputOptions;
import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.demo.BpeTrainer;
import dev.retort.distill.demo.DemoCorpus;
import dev.retort.distill.train.Evaluator;
import dev.retort.distill.train.SftObjective;
import dev.retort.distill.train.Trainer;
import dev.retort.distill.train.TrainingConfig;
import dev.retort.models.export.ModelExporter;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import dev.retort.tensor.DType;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Quality experiment (not a test): on the demo corpus, a teacher trained from scratch, then the same 2-layer
 * student (teacher layers 0 and 2, all weights trained) distilled with kd, meta-lora and meta-full for the same
 * number of steps, 3 seeds each, on a small transfer set; held-out perplexity and top-1 agreement with the
 * ORIGINAL teacher (the meta runs change theirs, so agreement is measured against the teacher before training).
 * Writes a markdown table to WORK/meta-quality.md.
 *
 * <pre>
 *   ./mvnw -pl distill test-compile && java -cp distill/target/test-classes:distill/target/classes:$(cat cp.txt) \
 *       dev.retort.distill.meta.MetaQualityExperiment [--work DIR] [--steps 150] [--teacher-steps 400] [--seeds 3]
 * </pre>
 */
public final class MetaQualityExperiment {
    private MetaQualityExperiment() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> o = new HashMap<>(Map.of("work", "/tmp/retort-meta-quality", "steps", "150", "teacher-steps", "400",
                "seeds", "3", "paragraphs", "6000", "transfer", "250", "pilot-lr", "0.01", "teacher-lr", "1e-4"));
        for (int i = 0; i + 1 < args.length; i += 2) o.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        Path work = Path.of(o.get("work"));
        Files.createDirectories(work);
        int steps = Integer.parseInt(o.get("steps")), teacherSteps = Integer.parseInt(o.get("teacher-steps"));
        int seeds = Integer.parseInt(o.get("seeds"));
        int seq = 64, batch = 16;

        // data, tokenizer and teacher as in the demo (DemoRun.Size.standard())
        Path corpus = work.resolve("corpus.txt"), transfer = work.resolve("transfer.txt"), heldOutFile = work.resolve("heldout.txt");
        String text = new DemoCorpus(1).generate(Integer.parseInt(o.get("paragraphs")));
        Files.writeString(corpus, text, StandardCharsets.UTF_8);
        Files.writeString(transfer, new DemoCorpus(501).generate(Integer.parseInt(o.get("transfer"))), StandardCharsets.UTF_8);
        Files.writeString(heldOutFile, new DemoCorpus(1001).generate(300), StandardCharsets.UTF_8);
        Path tokDir = work.resolve("tokenizer"), teacherDir = work.resolve("teacher");
        BpeTrainer.train(text, 512, tokDir);
        Tokenizer tokenizer = Tokenizers.load(tokDir);
        PackedData heldOut = PackedData.pack(CorpusReader.read(heldOutFile, tokenizer), seq, tokenizer.eosId());
        LlamaConfig config = new LlamaConfig(128, 384, 4, 4, 2, 32, tokenizer.vocabSize(), seq, 1e-5, 10000.0, null, true,
                1, List.of(2), false, false, DType.F32);
        try (Arena arena = Arena.ofShared()) {
            LlamaModel teacher = LlamaModel.random(config, arena, 1);
            PackedData train = PackedData.pack(CorpusReader.read(corpus, tokenizer), seq, tokenizer.eosId());
            TrainingConfig tc = TrainingConfig.DEFAULTS.withSteps(teacherSteps, batch, 3e-3, 3e-4, teacherSteps / 20)
                    .withSeed(1).withEvaluation(0, 4, 0);
            Phase sft = Phase.standard("sft", new SftObjective(teacher), teacher.trainableParameters(), tc, train);
            new Trainer(tc, Plan.of(sft, null), teacher, null, heldOut, "teacher", new OutputOptions(work.resolve("teacher-run"), false, true)).run(false);
            ModelExporter.save(teacher, null, tokDir, teacherDir, DType.F32);
        }

        List<String> rows = new ArrayList<>();
        for (String method : List.of("kd", "meta-lora", "meta-full")) {
            double[] ppl = new double[seeds], agree = new double[seeds];
            long started = System.nanoTime();
            for (int s = 0; s < seeds; s++) {
                Path out = work.resolve(method + "-seed" + (s + 1));
                MetaOptions meta = new MetaOptions(method.equals("meta-full") ? "full" : "lora", Double.parseDouble(o.get("teacher-lr")),
                        Double.parseDouble(o.get("pilot-lr")), null, 0.1, 1e-2, 8, 16);
                DistillOptions options = new DistillOptions(method.startsWith("meta") ? "meta" : "kd",
                        new ModelOptions(teacherDir, null, null, "0,2"), DataOptions.DEFAULTS.withFiles(transfer, heldOutFile).withSeqLen(seq),
                        TrainingConfig.DEFAULTS.withSteps(steps, batch, 3e-3, 3e-4, steps / 20).withSeed(s + 1).withEvaluation(0, 8, 0),
                        LoraOptions.DEFAULTS, KdConfig.DEFAULTS.withAlpha(0.9), FeatureOptions.DEFAULTS, meta,
                        dev.retort.distill.options.GkdOptions.DEFAULTS, new OutputOptions(out, false, false));
                DistillJob.run(options);
                // agreement with the original teacher, on the same held-out rows for every run
                try (Arena arena = Arena.ofShared(); var tw = dev.retort.models.hf.ModelWeights.open(teacherDir);
                     var sw = dev.retort.models.hf.ModelWeights.open(out.resolve("student"))) {
                    LlamaModel t = LlamaModel.load(LlamaConfig.read(teacherDir), tw, arena, false);
                    LlamaModel st = LlamaModel.load(LlamaConfig.read(out.resolve("student")), sw, arena, false);
                    Evaluator.Result r = Evaluator.evaluate(st, t, heldOut, 0, 4, new dev.retort.autograd.BufferPool());
                    ppl[s] = r.perplexity();
                    agree[s] = r.agreement();
                }
                System.out.printf(Locale.ROOT, "%s seed %d: ppl %.4f agreement %.4f%n", method, s + 1, ppl[s], agree[s]);
            }
            double seconds = (System.nanoTime() - started) / 1e9 / seeds;
            rows.add(String.format(Locale.ROOT, "| %s | %s | %.4f ± %.4f | %.4f ± %.4f | %.0f |", method, join(ppl), mean(ppl), sd(ppl),
                    mean(agree), sd(agree), seconds));
        }
        String table = "# Meta-distillation on the demo corpus\n\n"
                + String.format(Locale.ROOT, "Teacher: 4 layers, dim 128, %d SFT steps on %s paragraphs. Student: teacher layers 0,2, all weights, "
                        + "%d steps, batch %d × %d tokens on %s transfer paragraphs; fkl, T = 2, α = 0.9, AdamW lr 3e-3; meta: pilot-lr %s, "
                        + "teacher-lr %s, quiz = 10%% of the transfer rows, teacher LoRA r = 8, α = 16. Agreement: top-1 with the original teacher "
                        + "on held-out text.%n%n", teacherSteps, o.get("paragraphs"), steps, batch, seq, o.get("transfer"), o.get("pilot-lr"), o.get("teacher-lr"))
                + "| method | held-out perplexity per seed | mean ± sd | top-1 agreement mean ± sd | seconds per run |\n"
                + "|---|---|---|---|---|\n" + String.join("\n", rows) + "\n";
        Files.writeString(work.resolve("meta-quality.md"), table);
        System.out.println(table);
    }

    private static String join(double[] v) {
        List<String> s = new ArrayList<>();
        for (double x : v) s.add(String.format(Locale.ROOT, "%.4f", x));
        return String.join(", ", s);
    }

    private static double mean(double[] v) {
        double s = 0;
        for (double x : v) s += x;
        return s / v.length;
    }

    private static double sd(double[] v) {
        if (v.length < 2) return 0;
        double m = mean(v), s = 0;
        for (double x : v) s += (x - m) * (x - m);
        return Math.sqrt(s / (v.length - 1));
    }
}
