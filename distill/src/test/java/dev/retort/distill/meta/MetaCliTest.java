package dev.retort.distill.meta;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.cli.Retort;
import dev.retort.distill.demo.BpeTrainer;
import dev.retort.distill.demo.DemoCorpus;
import dev.retort.distill.train.MetricsLog;
import dev.retort.models.export.ModelExporter;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.tokenizer.Tokenizers;
import dev.retort.tensor.DType;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code retort distill --method meta} end to end on a tiny teacher, and its options' errors. */
class MetaCliTest {
    @TempDir
    static Path shared;
    static Path teacherDir, data;

    @BeforeAll
    static void teacherAndData() throws Exception {
        String text = new DemoCorpus(2).generate(60);
        Path tok = shared.resolve("tok");
        BpeTrainer.train(text, 300, tok);
        int vocab = Tokenizers.load(tok).vocabSize();
        data = shared.resolve("corpus.txt");
        Files.writeString(data, text);
        teacherDir = shared.resolve("teacher");
        try (Arena arena = Arena.ofShared()) {
            LlamaConfig config = new LlamaConfig(16, 32, 2, 2, 1, 8, vocab, 64, 1e-5, 10000.0, null, true, 1, List.of(2), false, false, DType.F32);
            ModelExporter.save(LlamaModel.random(config, arena, 4), null, tok, teacherDir, DType.F32);
        }
    }

    record Run(int exit, String err) {}

    static Run distill(String... args) {
        StringWriter err = new StringWriter();
        var cli = Retort.commandLine();
        cli.setErr(new PrintWriter(err, true));
        String[] all = new String[args.length + 1];
        all[0] = "distill";
        System.arraycopy(args, 0, all, 1, args.length);
        return new Run(cli.execute(all), err.toString());
    }

    static String[] common(Path out, String... more) {
        List<String> args = new java.util.ArrayList<>(List.of("--teacher", teacherDir.toString(), "--student-layers", "0",
                "--data", data.toString(), "--out", out.toString(), "--method", "meta", "--max-steps", "2", "--seq-len", "16",
                "--batch-size", "2", "--no-progress", "--eval-batches", "1", "--threads", "1"));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    @Test
    void loraMetaRunWritesTheStudentTheTeacherAdapterAndAMetaLog(@TempDir Path out) throws Exception {
        Run r = distill(common(out, "--meta-update", "lora", "--teacher-lora-rank", "2", "--teacher-lora-alpha", "4",
                "--teacher-lr", "1e-3", "--pilot-lr", "0.05", "--fd-step", "0.02", "--quiz-fraction", "0.2", "--optimizer", "rmsprop"));
        assertEquals(0, r.exit(), r.err());
        assertTrue(Files.exists(out.resolve("student/model.safetensors")), "student written");
        assertTrue(Files.exists(out.resolve("teacher-adapter/adapter_model.safetensors")), "teacher adapter written");
        String adapterConfig = Files.readString(out.resolve("teacher-adapter/adapter_config.json"));
        assertTrue(adapterConfig.contains("\"r\": 2") || adapterConfig.contains("\"r\":2"), adapterConfig);
        List<java.util.Map<String, Object>> meta = new MetricsLog(out.resolve("meta.jsonl")).read();
        assertEquals(2, meta.size(), "one meta row per step: " + meta);
        assertTrue(((Number) meta.get(0).get("quiz_ce")).doubleValue() > 0, meta.toString());
        // the options reach the run: they are in the checkpoint's fingerprint
        try (var f = dev.retort.models.hf.SafetensorsFile.open(out.resolve("checkpoint.safetensors"))) {
            String fingerprint = f.metadata().get("fingerprint");
            assertTrue(fingerprint.contains("update=lora teacher-lr=0.001 pilot-lr=0.05 quiz=fraction 0.2 fd-step=0.02 teacher-lora r=2 alpha=4.0"), fingerprint);
            assertTrue(f.names().stream().anyMatch(n -> n.startsWith("param/meta_teacher/optimizer/")), "teacher optimizer state in the checkpoint");
        }
    }

    @Test
    void fullMetaRunWritesTheUpdatedTeacher(@TempDir Path out) {
        Run r = distill(common(out, "--meta-update", "full", "--pilot-lr", "0.05"));
        assertEquals(0, r.exit(), r.err());
        assertTrue(Files.exists(out.resolve("teacher/model.safetensors")), "updated teacher written");
        assertFalse(Files.exists(out.resolve("teacher-adapter")), "no adapter for a full update");
    }

    @Test
    void badMetaOptionsGetOneClearLine(@TempDir Path out) {
        Run update = distill(common(out, "--meta-update", "half"));
        assertEquals(2, update.exit());
        assertTrue(update.err().contains("--meta-update must be lora or full, got 'half'"), update.err());
        Run accum = distill(common(out, "--grad-accum", "2"));
        assertEquals(2, accum.exit());
        assertTrue(accum.err().contains("--method meta needs --grad-accum 1"), accum.err());
        Run quiz = distill(common(out, "--quiz-fraction", "1.5"));
        assertEquals(2, quiz.exit());
        assertTrue(quiz.err().contains("--quiz-fraction must be in (0, 1)"), quiz.err());
        Run lr = distill(common(out, "--pilot-lr", "-1"));
        assertEquals(2, lr.exit());
        assertTrue(lr.err().contains("--pilot-lr must be a finite number >= 0, got -1.0"), lr.err());
    }
}
