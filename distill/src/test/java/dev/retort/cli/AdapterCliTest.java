package dev.retort.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.cli.CliTest.Run;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.hf.SafetensorsWriter;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.lora.Lora;
import dev.retort.models.lora.LoraAdapter;
import dev.retort.models.lora.LoraConfig;
import dev.retort.models.lora.LoraModel;
import dev.retort.models.lora.PeftAdapter;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code retort generate/eval --adapter DIR}: the adapter merged on load gives the numbers of the merged export
 * ({@code retort export --adapter}), which differ from the base model's; bad adapters get one line naming the file.
 */
class AdapterCliTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");
    private static final Pattern EVAL_LINE = Pattern.compile("tokens=(\\d+) ce=(\\d+\\.\\d{4}) ppl=(\\d+\\.\\d{3})");

    @TempDir
    static Path tmp;
    static Path adapter, merged, data;

    @BeforeAll
    static void adapterAndMergedExport() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + " (a user's clone has no ../shared): skipped");
        adapter = tmp.resolve("adapter");
        merged = tmp.resolve("merged");
        data = tmp.resolve("story.txt");
        Files.writeString(data, "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
                + "One day, she saw a big red ball under a tree. She ran to get it, but her friend Tom wanted it too.");
        writeAdapter(STORIES, adapter);
        Run export = CliTest.run("export", "--model", STORIES.toString(), "--adapter", adapter.toString(), "--out", merged.toString());
        assertEquals(0, export.exit(), export.err());
    }

    /** An all-linear rank-4 LoRA for stories260K (seeded A) with B random and non-zero, saved in PEFT's layout. */
    static void writeAdapter(Path modelDir, Path adapterDir) {
        LlamaConfig config = LlamaConfig.read(modelDir);
        try (ModelWeights weights = ModelWeights.open(modelDir); Arena arena = Arena.ofShared()) {
            LoraModel lora = Lora.attach(LlamaModel.load(config, weights, arena, false), LoraConfig.of(4, 8, "all-linear").withSeed(5));
            SplittableRandom random = new SplittableRandom(11);
            for (LoraAdapter a : lora.adapters().values()) {
                for (long i = 0; i < a.b().value().size(); i++) a.b().value().setFlat(i, (float) ((random.nextDouble() * 2 - 1) * 0.05));
            }
            PeftAdapter.save(adapterDir, lora, modelDir.toString());
            lora.detach();
        }
    }

    /** tokens, ce, ppl of an eval run's last line. */
    static double[] eval(String... modelArgs) {
        String[] args = new String[modelArgs.length + 5];
        args[0] = "eval";
        System.arraycopy(modelArgs, 0, args, 1, modelArgs.length);
        System.arraycopy(new String[] {"--data", data.toString(), "--seq-len", "16"}, 0, args, modelArgs.length + 1, 4);
        Run r = CliTest.run(args);
        assertEquals(0, r.exit(), r.err());
        Matcher m = EVAL_LINE.matcher(r.lastLine());
        assertTrue(m.matches(), "last line format: " + r.lastLine());
        return new double[] {Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2)), Double.parseDouble(m.group(3))};
    }

    @Test
    void evalWithAdapterEqualsEvalOfTheMergedExportAndDiffersFromTheBase() {
        double[] adapted = eval("--model", STORIES.toString(), "--adapter", adapter.toString());
        double[] exported = eval("--model", merged.toString());
        double[] base = eval("--model", STORIES.toString());
        assertEquals(exported[0], adapted[0]);
        assertEquals(exported[1], adapted[1], 1.5e-4, "ce, printed to 4 decimals");
        assertEquals(exported[2], adapted[2], 1e-3 * exported[2], "ppl");
        assertEquals(base[0], adapted[0]);
        assertNotEquals(base[1], adapted[1], 1e-3, "the adapter changes the cross-entropy");
    }

    @Test
    void generateWithAdapterEqualsTheMergedExportAndDiffersFromTheBase() {
        String[] greedy = {"--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "30"};
        Run adapted = generate(STORIES, adapter, greedy);
        Run exported = generate(merged, null, greedy);
        Run base = generate(STORIES, null, greedy);
        assertEquals(exported.out(), adapted.out());
        assertNotEquals(base.out(), adapted.out(), "the adapter changes the greedy text");

        String[] sampled = {"--prompt", "Lily", "--temperature", "1.0", "--max-tokens", "30", "--seed", "3"};
        assertEquals(generate(merged, null, sampled).out(), generate(STORIES, adapter, sampled).out());
    }

    private static Run generate(Path model, Path adapterOrNull, String... rest) {
        List<String> args = new ArrayList<>(List.of("generate", "--model", model.toString()));
        if (adapterOrNull != null) args.addAll(List.of("--adapter", adapterOrNull.toString()));
        args.addAll(List.of(rest));
        Run r = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        return r;
    }

    @Test
    void badAdaptersGetOneLineNamingTheFile() throws Exception {
        Run missing = CliTest.run("eval", "--model", STORIES.toString(), "--adapter", tmp.resolve("nope").toString(), "--data", data.toString());
        assertEquals(2, missing.exit());
        assertOneLine(missing.err(), "nope", "not a directory", "adapter_config.json");

        // an adapter whose A matrices were made for a model of another width
        Path narrow = tmp.resolve("narrow");
        Files.createDirectories(narrow);
        try (ModelWeights weights = ModelWeights.open(adapter.resolve(PeftAdapter.WEIGHTS_FILE))) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            try (Arena arena = Arena.ofConfined()) {
                for (String name : weights.names()) {
                    Tensor t = weights.tensor(name);
                    tensors.put(name, name.contains("lora_A") ? Tensor.zeros(arena, t.dtype(), t.dim(0), t.dim(1) / 2) : t);
                }
                SafetensorsWriter.write(narrow.resolve(PeftAdapter.WEIGHTS_FILE), tensors, Map.of("format", "pt"));
            }
        }
        Files.copy(adapter.resolve(PeftAdapter.CONFIG_FILE), narrow.resolve(PeftAdapter.CONFIG_FILE));
        Run shape = CliTest.run("generate", "--model", STORIES.toString(), "--adapter", narrow.toString(), "--prompt", "x");
        assertEquals(2, shape.exit());
        assertOneLine(shape.err(), narrow.resolve(PeftAdapter.WEIGHTS_FILE).toString(), "has shape [4, 32]", "needs [4, 64]");

        Path badConfig = tmp.resolve("bad-config");
        Files.createDirectories(badConfig);
        Files.copy(adapter.resolve(PeftAdapter.WEIGHTS_FILE), badConfig.resolve(PeftAdapter.WEIGHTS_FILE));
        Files.writeString(badConfig.resolve(PeftAdapter.CONFIG_FILE), "{\"peft_type\": \"LORA\", \"target_modules\": [\"q_proj\"], \"r\": -1}");
        Run config = CliTest.run("eval", "--model", STORIES.toString(), "--adapter", badConfig.toString(), "--data", data.toString());
        assertEquals(2, config.exit());
        assertOneLine(config.err(), badConfig.resolve(PeftAdapter.CONFIG_FILE).toString(), "-1");
    }

    private static void assertOneLine(String err, String... parts) {
        assertEquals(1, err.strip().lines().count(), "one line: " + err);
        for (String part : parts) assertTrue(err.contains(part), "expected '" + part + "' in: " + err);
        assertFalse(err.contains("Exception"), "no stack trace or exception class: " + err);
    }
}
