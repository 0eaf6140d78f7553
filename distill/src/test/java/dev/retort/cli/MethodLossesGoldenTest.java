package dev.retort.cli;

import static dev.retort.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.retort.distill.train.MetricsLog;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The numbers of every method, pinned: a few steps of each {@code retort distill} method (and the variants that
 * take other code paths: LoRA SFT, top-k from a cache, feature KD, LoRA dropout, gradient accumulation, the
 * full meta-update) on the real tiny Llama must log bitwise the losses, parts and gradient norms recorded in
 * {@code golden/method-losses.json}. A refactoring of the top floor must leave them exactly as they are; a
 * deliberate numeric change rewrites the file ({@code -Dretort.golden.write=true}) in the same commit, and says
 * why in its message.
 */
class MethodLossesGoldenTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");
    private static final Path GOLDEN = Path.of(System.getProperty("retort.root", "."))
            .resolve("distill/src/test/resources/golden/method-losses.json");
    /** The logged quantities that must not move (timings and the like are left out). */
    private static final List<String> PINNED = List.of("loss", "ce", "kd", "agreement", "grad_norm", "lr", "eval_ce", "eval_kl");

    @TempDir
    static Path shared;
    static Path data, cache;

    @BeforeAll
    static void data() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + ": skipped");
        data = DistillCliTest.writeStories(shared.resolve("stories.txt"));
        cache = shared.resolve("teacher.rtkc");
        CliTest.Run c = run("cache-teacher", "--teacher", STORIES.toString(), "--data", data.toString(), "--top-k", "8",
                "--temperature", "2.0", "--seq-len", "32", "--out", cache.toString());
        assertEquals(0, c.exit(), c.err());
    }

    /** Each case: a name and the flags it adds to a short run. */
    static Map<String, List<String>> cases() {
        Map<String, List<String>> c = new LinkedHashMap<>();
        c.put("sft", List.of("--method", "sft"));
        c.put("sft-lora", List.of("--method", "sft", "--lora-rank", "4", "--grad-accum", "2"));
        c.put("kd", List.of("--method", "kd"));
        c.put("kd-rkl-topk-features", List.of("--method", "kd", "--kd-loss", "rkl", "--top-k", "8",
                "--feature-layers", "0:0,2:4", "--feature-loss", "cosine"));
        c.put("kd-cache", List.of("--method", "kd", "--top-k", "8", "--temperature", "2.0", "--teacher-cache", "CACHE"));
        c.put("neo", List.of("--method", "neo", "--lora-rank", "4"));
        c.put("neo-jsd-dropout-plus", List.of("--method", "neo", "--lora-rank", "4", "--kd-loss", "jsd", "--lora-dropout", "0.1",
                "--lora-plus", "4", "--optimizer", "rmsprop"));
        c.put("meta", List.of("--method", "meta"));
        c.put("meta-full", List.of("--method", "meta", "--meta-update", "full"));
        c.put("progressive", List.of("--method", "progressive", "--lora-rank", "4", "--phase-steps", "2,1,1", "--max-new-tokens", "8"));
        c.put("progressive-bottleneck-unfreeze-features", List.of("--method", "progressive", "--adapter-type", "bottleneck",
                "--adapter-size", "4", "--phase-steps", "2,1,1", "--max-new-tokens", "8", "--progressive-unfreeze",
                "--feature-layers", "0:1,2:4", "--phase-temperature", "1,2,1"));
        return c;
    }

    static List<Map<String, Double>> runCase(Path out, List<String> flags) {
        List<String> args = new ArrayList<>(List.of("distill", "--teacher", STORIES.toString(), "--student-layers", "0,2,4",
                "--data", data.toString(), "--out", out.toString(), "--seq-len", "32", "--batch-size", "4", "--max-steps", "4",
                "--lr", "1e-3", "--no-progress", "--held-out", "0.1", "--eval-batches", "2", "--eval-every", "2", "--seed", "3"));
        for (String f : flags) args.add(f.equals("CACHE") ? cache.toString() : f);
        CliTest.Run r = run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        List<Map<String, Double>> rows = new ArrayList<>();
        for (Map<String, Object> row : new MetricsLog(out.resolve("metrics.jsonl")).read()) {
            Map<String, Double> kept = new LinkedHashMap<>();
            for (String key : PINNED) {
                if (row.get(key) instanceof Number n) kept.put(key, n.doubleValue());
            }
            if (!kept.isEmpty()) rows.add(kept);   // the resources line has none of the pinned numbers
        }
        return rows;
    }

    @Test
    void everyMethodLogsBitwiseTheRecordedNumbers(@TempDir Path out) throws Exception {
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        Map<String, List<Map<String, Double>>> now = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> c : cases().entrySet()) now.put(c.getKey(), runCase(out.resolve(c.getKey()), c.getValue()));
        if (Boolean.getBoolean("retort.golden.write")) {
            Files.createDirectories(GOLDEN.getParent());
            json.writeValue(GOLDEN.toFile(), now);
            return;
        }
        @SuppressWarnings("unchecked")
        Map<String, List<Map<String, Double>>> golden = json.readValue(GOLDEN.toFile(), Map.class);
        for (String name : now.keySet()) {
            List<Map<String, Double>> want = golden.get(name), got = now.get(name);
            assertEquals(want.size(), got.size(), name + ": logged lines");
            for (int i = 0; i < want.size(); i++) {
                for (String key : PINNED) {
                    Object w = want.get(i).get(key);
                    Double g = got.get(i).get(key);
                    assertEquals(w == null ? null : ((Number) w).doubleValue(), g, name + " line " + (i + 1) + " " + key);
                }
            }
        }
    }
}
