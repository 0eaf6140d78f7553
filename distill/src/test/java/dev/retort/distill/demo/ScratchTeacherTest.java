package dev.retort.distill.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.distill.data.Example;
import dev.retort.distill.data.PackedData;
import dev.retort.models.Llm;
import dev.retort.models.tokenizer.Tokenizers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A teacher trained in stages runs each stage's steps in order, each on its own cosine schedule from its own lr. */
class ScratchTeacherTest {
    @TempDir
    Path tmp;

    @Test
    void stagesRunInOrderEachWithItsOwnSchedule() throws Exception {
        Path tokenizer = tmp.resolve("tokenizer");
        String text = "the cat sat on the mat. the dog sat on the log. ".repeat(40);
        BpeTrainer.train(text, 280, tokenizer);
        int vocab = Tokenizers.load(tokenizer).vocabSize();
        PackedData a = rows(vocab, 1), b = rows(vocab, 2);
        List<ScratchTeacher.Stage> stages = List.of(new ScratchTeacher.Stage("first", a, 20, 1e-3), new ScratchTeacher.Stage("second", b, 20, 4e-3));
        ScratchTeacher.train(stages, a, vocab, new ScratchTeacher.Shape(16, 1, 2, 1, 32, 32), 2, 1, 0, tokenizer, tmp.resolve("run"),
                tmp.resolve("teacher"), "staged");

        ObjectMapper json = new ObjectMapper();
        List<JsonNode> steps = new ArrayList<>();
        for (String line : Files.readAllLines(tmp.resolve("run/metrics.jsonl"))) {
            JsonNode n = json.readTree(line);
            if (n.has("phase") && n.has("lr")) steps.add(n);
        }
        assertEquals(40, steps.size(), "one row per step of both stages");
        double firstPeak = 0, secondPeak = 0;
        for (int i = 0; i < steps.size(); i++) {
            JsonNode n = steps.get(i);
            assertEquals(i + 1, n.get("step").asInt());
            assertEquals(i < 20 ? "first" : "second", n.get("phase").asText());
            if (i < 20) firstPeak = Math.max(firstPeak, n.get("lr").asDouble());
            else secondPeak = Math.max(secondPeak, n.get("lr").asDouble());
        }
        assertEquals(1e-3, firstPeak, 1e-9, "stage one warms up to its own lr");
        assertEquals(4e-3, secondPeak, 1e-9, "stage two starts a fresh schedule at its own lr");
        assertTrue(steps.get(19).get("lr").asDouble() < 0.2e-3, "stage one decays to about a tenth before stage two: " + steps.get(19));
        try (Llm teacher = Llm.open(tmp.resolve("teacher"))) {
            assertEquals(vocab, teacher.tokenizer().vocabSize());
        }
    }

    @Test
    void aStageNeedsStepsAndAPositiveLr() {
        PackedData rows = rows(300, 1);
        assertEquals("stage x: steps must be at least 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> new ScratchTeacher.Stage("x", rows, 0, 1e-3)).getMessage());
        assertEquals("stage x: lr must be positive, got NaN",
                assertThrows(IllegalArgumentException.class, () -> new ScratchTeacher.Stage("x", rows, 5, Double.NaN)).getMessage());
    }

    /** A few rows of distinct token patterns, every position a target. */
    private static PackedData rows(int vocab, int salt) {
        List<Example> examples = new ArrayList<>();
        for (int e = 0; e < 8; e++) {
            int[] t = new int[32];
            boolean[] target = new boolean[32];
            for (int i = 0; i < t.length; i++) {
                t[i] = 3 + (i * salt + e) % (vocab - 3);
                target[i] = true;
            }
            examples.add(new Example(t, target));
        }
        return PackedData.pack(examples, 32, 0);
    }
}
