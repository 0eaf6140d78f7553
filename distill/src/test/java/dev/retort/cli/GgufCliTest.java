package dev.retort.cli;

import static dev.retort.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --model FILE.gguf} wherever a model directory is accepted: stories260K exported with {@code retort export
 * --format gguf} and used again as the model of generate, eval and tokenize, and as teacher and student of distill,
 * gives (at f32) exactly what the Hugging Face directory gives.
 */
class GgufCliTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");

    @TempDir
    Path tmp;

    private Path export(String dtype) {
        Path gguf = tmp.resolve("student-" + dtype + ".gguf");
        CliTest.Run r = run("export", "--model", STORIES.toString(), "--format", "gguf", "--dtype", dtype, "--out", gguf.toString());
        assertEquals(0, r.exit(), r.err());
        return gguf;
    }

    @Test
    void generateEvalAndTokenizeFromAnF32GgufEqualTheDirectorys() throws Exception {
        CliTest.requireStories();
        Path gguf = export("f32");
        String[] generate = {"generate", "--model", STORIES.toString(), "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "40"};
        CliTest.Run fromDir = run(generate);
        generate[2] = gguf.toString();
        CliTest.Run fromGguf = run(generate);
        assertEquals(0, fromGguf.exit(), fromGguf.err());
        assertEquals(fromDir.out(), fromGguf.out());
        assertTrue(fromGguf.out().split("\\s+").length >= 15, fromGguf.out());

        Path data = Files.writeString(tmp.resolve("eval.txt"), "Once upon a time, there was a little girl named Lily. She loved to play outside.\n");
        CliTest.Run evalDir = run("eval", "--model", STORIES.toString(), "--data", data.toString());
        CliTest.Run evalGguf = run("eval", "--model", gguf.toString(), "--data", data.toString());
        assertEquals(0, evalGguf.exit(), evalGguf.err());
        assertEquals(evalDir.out(), evalGguf.out());

        assertEquals(run("tokenize", "--model", STORIES.toString(), "Lily ate a pie.").out(),
                run("tokenize", "--model", gguf.toString(), "Lily ate a pie.").out());
    }

    @Test
    void aQ8GgufGeneratesAndAFileNamedAnythingIsKnownByItsMagic() throws Exception {
        CliTest.requireStories();
        Path gguf = export("q8_0");
        Path renamed = Files.move(gguf, tmp.resolve("model.bin"));
        CliTest.Run r = run("generate", "--model", renamed.toString(), "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "20");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().split("\\s+").length >= 8, r.out());

        Path notGguf = Files.writeString(tmp.resolve("notes.gguf"), "not a model");
        CliTest.Run bad = run("generate", "--model", notGguf.toString(), "--prompt", "x");
        assertEquals(2, bad.exit());
        assertTrue(bad.err().contains(notGguf.toString()) && bad.err().contains("not a directory"), bad.err());
    }

    @Test
    void distillTakesAGgufTeacherAndStudent() throws Exception {
        CliTest.requireStories();
        Path gguf = export("f32");
        Path data = Files.writeString(tmp.resolve("train.txt"), ("Once upon a time, there was a little girl named Lily. "
                + "She loved to play outside in the park. One day, she saw a big red ball.\n").repeat(8));
        String[] common = {"--data", data.toString(), "--seq-len", "32", "--batch-size", "2", "--max-steps", "2", "--lr", "1e-3",
                "--no-progress", "--held-out", "0.1", "--eval-batches", "1", "--seed", "3", "--method", "kd"};
        CliTest.Run dir = run(concat(new String[] {"distill", "--teacher", STORIES.toString(), "--student", STORIES.toString(),
                "--out", tmp.resolve("from-dir").toString()}, common));
        assertEquals(0, dir.exit(), dir.err());
        CliTest.Run file = run(concat(new String[] {"distill", "--teacher", gguf.toString(), "--student", gguf.toString(),
                "--out", tmp.resolve("from-gguf").toString()}, common));
        assertEquals(0, file.exit(), file.err());
        assertEquals(DistillCliTest.losses(tmp.resolve("from-dir")), DistillCliTest.losses(tmp.resolve("from-gguf")));
        // the student trained from GGUF files is written as a directory with the file's tokenizer, and generates the same
        assertTrue(Files.isRegularFile(tmp.resolve("from-gguf/student/tokenizer.model")));
        String[] generate = {"generate", "--model", tmp.resolve("from-dir/student").toString(), "--prompt", "Lily", "--temperature", "0",
                "--max-tokens", "30"};
        CliTest.Run fromDir = run(generate);
        generate[2] = tmp.resolve("from-gguf/student").toString();
        CliTest.Run fromGguf = run(generate);
        assertEquals(0, fromGguf.exit(), fromGguf.err());
        assertEquals(fromDir.out(), fromGguf.out());
    }

    @Test
    void aGgufFileExportsBackToAHuggingFaceDirectory() throws Exception {
        CliTest.requireStories();
        Path gguf = export("f16");
        Path dir = tmp.resolve("from-gguf-hf");
        CliTest.Run r = run("export", "--model", gguf.toString(), "--format", "hf", "--dtype", "f16", "--out", dir.toString());
        assertEquals(0, r.exit(), r.err());
        String[] generate = {"generate", "--model", gguf.toString(), "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "30"};
        CliTest.Run fromGguf = run(generate);
        generate[2] = dir.toString();
        CliTest.Run fromDir = run(generate);
        assertEquals(0, fromDir.exit(), fromDir.err());
        assertEquals(fromGguf.out(), fromDir.out());
        assertEquals(run("tokenize", "--model", gguf.toString(), "naïve Lily  ☃").out(), run("tokenize", "--model", dir.toString(), "naïve Lily  ☃").out());
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
