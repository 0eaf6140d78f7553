package dev.retort.fuzz;

import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.AdamW;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.distill.cache.CacheChecksums;
import dev.retort.distill.cache.CacheDescription;
import dev.retort.distill.cache.TeacherCache;
import dev.retort.distill.cache.TeacherCacheException;
import dev.retort.distill.cache.TeacherCacheWriter;
import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.train.TrainingCheckpoint;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.hf.SafetensorsFile;
import dev.retort.models.hf.SafetensorsWriter;
import dev.retort.models.hf.ShardedSafetensors;
import dev.retort.models.hf.TensorInfo;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.TokenizerFileException;
import dev.retort.models.tokenizer.Tokenizers;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.ThreadPool;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A seeded mutation fuzz of every loader a user's file reaches: safetensors, the sharded index, config.json,
 * bottleneck adapter configs, tokenizer.json, tokenizer.model, GGUF files, the teacher cache, the training checkpoint and data files. Each damaged
 * file must load (and then be usable) or be refused with the loader's one documented exception, in one line
 * naming the file; any other exception, or a hang, fails with the seed and the case. A few thousand cases per
 * loader here; {@code -Dretort.fuzz.iterations=N} for more.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HostileInputFuzzTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");
    private static final String SAMPLE = "Once upon a time, <s> a cat ate 123 fish.\n\tThe end </s> é 日本 \uD83D\uDE00";
    private static Tokenizer stories;

    @TempDir
    Path dir;

    @BeforeAll
    static void loadTokenizer() throws IOException {
        stories = Tokenizers.load(STORIES);
    }

    @Test
    void safetensors() throws Exception {
        byte[] valid = safetensorsFile(dir.resolve("valid.safetensors"));
        FuzzLoop.run("model.safetensors", 20_24_11_23L, FuzzLoop.iterations(3000), valid, dir, ModelFileException.class,
                HostileInputFuzzTest::mutateFramedHeader, file -> {
                    try (Arena arena = Arena.ofConfined()) {
                        readEverything(SafetensorsFile.open(file, arena));
                    }
                });
    }

    @Test
    void shardedIndex() throws Exception {
        Path shards = Files.createDirectories(dir.resolve("shards"));
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsWriter.write(shards.resolve("a.safetensors"), Map.of("x", Tensor.of(arena, new float[] {1, 2}, 2)), Map.of());
            SafetensorsWriter.write(shards.resolve("b.safetensors"), Map.of("y", Tensor.of(arena, new float[] {3}, 1),
                    "z", Tensor.of(arena, DType.BF16, new float[] {4, 5}, 1, 2)), Map.of());
        }
        byte[] valid = """
                {"metadata": {"total_size": 16},
                 "weight_map": {"x": "a.safetensors", "y": "b.safetensors", "z": "b.safetensors"}}
                """.getBytes(StandardCharsets.UTF_8);
        FuzzLoop.run("model.safetensors.index.json", 16_01L, FuzzLoop.iterations(3000), valid, shards, ModelFileException.class,
                Mutations::mutate, file -> {
                    try (ShardedSafetensors weights = ShardedSafetensors.open(file)) {
                        for (String name : weights.names()) sum(weights.tensor(name));
                    }
                });
    }

    @Test
    void configJson() throws Exception {
        byte[] valid = Files.readAllBytes(STORIES.resolve("config.json"));
        FuzzLoop.run("config.json", 16_02L, FuzzLoop.iterations(4000), valid, dir, ModelFileException.class,
                Mutations::mutate, file -> {
                    LlamaConfig c = LlamaConfig.read(file);
                    LlamaConfig.parse(file, c.toJson());   // what was accepted also writes and reads back
                });
    }

    @Test
    void bottleneckAdapterConfig() throws Exception {
        byte[] valid = """
                {
                  "adapter_type" : "retort_bottleneck",
                  "base_model_name_or_path" : "stories260K",
                  "bottleneck_size" : 16,
                  "non_linearity" : "silu",
                  "placement" : "both"
                }
                """.getBytes(StandardCharsets.UTF_8);
        FuzzLoop.run("adapter_config.json", 16_09L, FuzzLoop.iterations(3000), valid, dir, ModelFileException.class,
                Mutations::mutate, file -> dev.retort.models.adapter.BottleneckFiles.readConfig(file, 0));
    }

    @Test
    void tokenPruningConfig() throws Exception {
        byte[] valid = """
                {
                  "hidden_size" : 64,
                  "keep_ratio" : 0.5,
                  "mode" : "learned",
                  "prune_layer" : 1,
                  "retort_type" : "token_pruning",
                  "samples" : 100,
                  "seed" : 3,
                  "sigma" : 0.1
                }
                """.getBytes(StandardCharsets.UTF_8);
        FuzzLoop.run("prune_config.json", 16_10L, FuzzLoop.iterations(3000), valid, dir, ModelFileException.class,
                Mutations::mutate, file -> dev.retort.models.llama.TokenPruningFiles.readConfig(file, 64));
    }

    @Test
    void tokenizerJson() throws Exception {
        byte[] valid = Files.readAllBytes(STORIES.resolve("tokenizer.json"));
        FuzzLoop.run("tokenizer.json", 16_03L, FuzzLoop.iterations(2000), valid, dir, TokenizerFileException.class,
                Mutations::mutate, file -> use(Tokenizers.loadHuggingFace(file, null)));
    }

    @Test
    void tokenizerModel() throws Exception {
        byte[] valid = Files.readAllBytes(STORIES.resolve("tokenizer.model"));
        FuzzLoop.run("tokenizer.model", 16_04L, FuzzLoop.iterations(3000), valid, dir, TokenizerFileException.class,
                Mutations::mutate, file -> use(Tokenizers.loadSentencePiece(file, null)));
    }

    /**
     * A tiny Llama GGUF (F32 norms, Q8_0 and F16 matrices, a SentencePiece-style vocabulary): header, weights under
     * HF names (dequantised, q/k permutation undone), config and tokenizer must each load and be usable or be
     * refused in one line; the tokenizer's own refusal ({@link TokenizerFileException}) is counted as the file's.
     */
    @Test
    void gguf() throws Exception {
        byte[] valid = ggufFile(dir.resolve("valid.gguf"));
        FuzzLoop.run("model.gguf", 16_10L, FuzzLoop.iterations(3000), valid, dir, ModelFileException.class,
                Mutations::mutate, file -> {
                    try (dev.retort.models.gguf.GgufWeights weights = dev.retort.models.gguf.GgufWeights.open(file)) {
                        for (String name : weights.names()) sum(weights.tensor(name));
                    }
                    LlamaConfig.read(file);
                    try {
                        use(Tokenizers.load(file));
                    } catch (TokenizerFileException e) {
                        throw new ModelFileException(file, "tokenizer: " + e.getMessage(), e);
                    }
                });
    }

    /** Half the mutants are re-sealed, so that damage reaches the structural checks behind the checksum. */
    @Test
    void teacherCache() throws Exception {
        byte[] valid = teacherCacheFile(dir.resolve("valid.rtkc"));
        FuzzLoop.run("cache.rtkc", 16_05L, FuzzLoop.iterations(3000), valid, dir, TeacherCacheException.class,
                (bytes, random) -> {
                    Mutations.Mutant m = Mutations.mutate(bytes, random);
                    if (!random.nextBoolean()) return m;
                    ByteBuffer b = ByteBuffer.wrap(m.bytes()).order(ByteOrder.LITTLE_ENDIAN);
                    CacheChecksums.reseal(b);
                    return new Mutations.Mutant(b.array(), m.how() + ", re-sealed");
                }, file -> {
                    try (TeacherCache cache = TeacherCache.open(file)) {
                        for (int s = 0; s < cache.sequenceCount(); s++) {
                            cache.tokens(s);
                            cache.topK(s);
                        }
                    }
                });
    }

    @Test
    void trainingCheckpoint() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            List<Parameter> params = parameters(arena);
            AdamW optimizer = new AdamW(List.of(ParamGroup.of(params, 0.0)), 1e-3);
            for (Parameter p : params) p.gradForAccumulation().fill(0.25f);
            optimizer.step();
            Path saved = dir.resolve("valid.safetensors");
            TrainingCheckpoint.save(saved, 3, 0, "fp", "lr=1", params, optimizer, Map.of("dropout", 7L));
            byte[] valid = Files.readAllBytes(saved);
            FuzzLoop.run("checkpoint.safetensors", 16_06L, FuzzLoop.iterations(3000), valid, dir,
                    IllegalArgumentException.class, HostileInputFuzzTest::mutateFramedHeader, file -> {
                        TrainingCheckpoint.Restored r = TrainingCheckpoint.restore(file, "fp", params);
                        r.loadInto(new AdamW(List.of(ParamGroup.of(params, 0.0)), 1e-3));
                    });
        }
    }

    @Test
    void jsonlData() throws Exception {
        byte[] valid = """
                {"text": "Once upon a time there was a cat."}
                {"prompt": "Who ate the fish?", "response": "The cat did."}

                {"text": "é 日本 \\u00e9 \\ud83d\\ude00 <s>"}
                """.getBytes(StandardCharsets.UTF_8);
        FuzzLoop.run("train.jsonl", 16_07L, FuzzLoop.iterations(3000), valid, dir, IllegalArgumentException.class,
                Mutations::mutate, file -> CorpusReader.read(file, stories));
    }

    @Test
    void textData() throws Exception {
        byte[] valid = ("Once upon a time there was a cat.\n\nIt ate a fish. The end.\r\n\r\n" + SAMPLE).getBytes(StandardCharsets.UTF_8);
        FuzzLoop.run("train.txt", 16_08L, FuzzLoop.iterations(2000), valid, dir, IllegalArgumentException.class,
                Mutations::mutate, file -> CorpusReader.read(file, stories));
    }

    @Test
    void promptTemplates() throws Exception {
        byte[] valid = "{input}\nOnce upon a time, {input}\\nThe end.\n\nQ: {input} é 日本\n".getBytes(StandardCharsets.UTF_8);
        FuzzLoop.run("templates.txt", 16_09L, FuzzLoop.iterations(2000), valid, dir, IllegalArgumentException.class,
                Mutations::mutate, dev.retort.distill.progressive.PromptTemplates::read);
    }

    // ---- helpers --------------------------------------------------------------------------------------------

    /**
     * For a length-prefixed header (safetensors): most mutants damage the header's JSON and keep the prefix
     * in step with its new length, so the damage reaches the JSON parser; some damage the file as bytes.
     */
    private static Mutations.Mutant mutateFramedHeader(byte[] valid, Random random) {
        long headerLength = ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN).getLong();
        int headerEnd = (int) (8 + headerLength);
        int choice = random.nextInt(4);
        if (choice == 0) return Mutations.mutate(valid, random);
        if (choice == 1) {
            byte[] b = valid.clone();
            long length = switch (random.nextInt(3)) {
                case 0 -> random.nextLong();
                case 1 -> headerLength + random.nextInt(33) - 16;
                default -> b.length - 8 + random.nextInt(5) - 2;
            };
            ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, length);
            return new Mutations.Mutant(b, "length prefix set to " + length);
        }
        byte[] header = java.util.Arrays.copyOfRange(valid, 8, headerEnd);
        Mutations.Mutant m = Mutations.mutate(header, random);
        if (m.how().startsWith("truncated") || m.how().contains("appended")) m = Mutations.mutate(header, random);
        byte[] out = new byte[8 + m.bytes().length + valid.length - headerEnd];
        ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, m.bytes().length);
        System.arraycopy(m.bytes(), 0, out, 8, m.bytes().length);
        System.arraycopy(valid, headerEnd, out, 8 + m.bytes().length, valid.length - headerEnd);
        return new Mutations.Mutant(out, "header: " + m.how());
    }

    private static void readEverything(SafetensorsFile weights) {
        for (String name : weights.names()) {
            TensorInfo info = weights.info(name);
            MemorySegment bytes = weights.bytes(name);
            long s = 0;
            for (long b = 0; b < bytes.byteSize(); b++) s += bytes.get(ValueLayout.JAVA_BYTE, b);
            if (info.dtype().retortType() != null) sum(weights.tensor(name));
            if (s == Long.MIN_VALUE) throw new AssertionError("keeps the reads alive");
        }
    }

    private static double sum(Tensor t) {
        double s = 0;
        for (long e = 0; e < t.size(); e++) s += t.getFlat(e);
        return s;
    }

    /** A loaded tokenizer must also encode and decode, or the loader accepted what it cannot use. */
    private static void use(Tokenizer tokenizer) {
        int[] ids = tokenizer.encode(SAMPLE);
        tokenizer.decode(ids);
        int[] all = new int[tokenizer.vocabSize()];
        for (int i = 0; i < all.length; i++) all[i] = i;
        tokenizer.decode(all);
    }

    private static byte[] safetensorsFile(Path file) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            tensors.put("embed", Tensor.of(arena, DType.BF16, new float[] {1, 2, 3, 4, 5, 6}, 3, 2));
            tensors.put("norm", Tensor.of(arena, new float[] {0.5f, -0.5f, 2}, 3));
            tensors.put("half", Tensor.of(arena, DType.F16, new float[] {1, -1}, 2, 1));
            tensors.put("quant", Tensor.of(arena, DType.I8, new float[] {1, -2, 3}, 3));
            tensors.put("scalar", Tensor.of(arena, new float[] {9}));
            tensors.put("empty", Tensor.zeros(arena, DType.F32, 0, 4));
            SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
            return Files.readAllBytes(file);
        }
    }

    private static byte[] ggufFile(Path file) throws IOException {
        var w = new dev.retort.models.export.GgufWriter();
        w.putString("general.architecture", "llama");
        w.putUint32("llama.block_count", 1);
        w.putUint32("llama.context_length", 16);
        w.putUint32("llama.embedding_length", 32);
        w.putUint32("llama.feed_forward_length", 32);
        w.putUint32("llama.attention.head_count", 2);
        w.putUint32("llama.attention.head_count_kv", 1);
        w.putFloat32("llama.rope.freq_base", 10000f);
        w.putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        w.putString("tokenizer.ggml.model", "llama");
        List<String> pieces = List.of("<unk>", "<s>", "</s>", "\u2581", "\u2581a", "a", "<0x41>", "b");
        w.putStringArray("tokenizer.ggml.tokens", pieces.stream().map(t -> t.getBytes(StandardCharsets.UTF_8)).toList());
        w.putFloat32Array("tokenizer.ggml.scores", new float[] {0, 0, 0, -2, -1, -3, 0, -4});
        w.putInt32Array("tokenizer.ggml.token_type", new int[] {2, 3, 3, 1, 1, 1, 6, 1});
        w.putUint32("tokenizer.ggml.bos_token_id", 1);
        w.putUint32("tokenizer.ggml.eos_token_id", 2);
        w.putString("tokenizer.chat_template", "{{ messages }}");
        Random random = new Random(16);
        String[][] tensors = {{"token_embd.weight", "8", "32"}, {"blk.0.attn_norm.weight", "32"}, {"blk.0.attn_q.weight", "32", "32"},
                {"blk.0.attn_k.weight", "16", "32"}, {"blk.0.attn_v.weight", "16", "32"}, {"blk.0.attn_output.weight", "32", "32"},
                {"blk.0.ffn_norm.weight", "32"}, {"blk.0.ffn_gate.weight", "32", "32"}, {"blk.0.ffn_up.weight", "32", "32"},
                {"blk.0.ffn_down.weight", "32", "32"}, {"output_norm.weight", "32"}};
        for (String[] t : tensors) {
            int rows = Integer.parseInt(t[1]), columns = t.length > 2 ? Integer.parseInt(t[2]) : 1;
            float[] v = new float[rows * columns];
            for (int i = 0; i < v.length; i++) v[i] = (float) random.nextGaussian() * 0.1f;
            var type = t.length == 2 ? dev.retort.models.export.GgufWriter.TensorType.F32
                    : t[0].contains("attn_q") ? dev.retort.models.export.GgufWriter.TensorType.F16
                    : dev.retort.models.export.GgufWriter.TensorType.Q8_0;
            long[] dims = t.length == 2 ? new long[] {rows} : new long[] {columns, rows};
            w.addTensor(t[0], type, dims, arena -> switch (type) {
                case Q8_0 -> arena.allocate(v.length / 32 * 34L).copyFrom(MemorySegment.ofArray(dev.retort.models.export.Q8Blocks.quantize(v)));
                case F16 -> {
                    MemorySegment m = arena.allocate(2L * v.length);
                    for (int i = 0; i < v.length; i++) m.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2L * i, dev.retort.tensor.Half.floatToF16(v[i]));
                    yield m;
                }
                case F32 -> arena.allocate(4L * v.length).copyFrom(MemorySegment.ofArray(v));
            });
        }
        w.write(file);
        return Files.readAllBytes(file);
    }

    private static byte[] teacherCacheFile(Path file) throws IOException {
        int vocab = 9;
        CacheDescription d = new CacheDescription("teacher", "/t", vocab, 2, 1f, 5, "sha256:v", "data.txt", "sha256:d");
        try (TeacherCacheWriter writer = TeacherCacheWriter.create(file, d, new ThreadPool(1), 100)) {
            for (int s = 0; s < 6; s++) {
                float[] logits = new float[3 * vocab];
                for (int i = 0; i < logits.length; i++) logits[i] = (i * 7 + s) % 5;
                writer.append(new int[] {s % vocab, 1, 2}, logits);
            }
            writer.finish();
        }
        return Files.readAllBytes(file);
    }

    private static List<Parameter> parameters(Arena arena) {
        return List.of(new Parameter("model.w", Tensor.of(arena, new float[] {1, 2, 3, 4, 5, 6}, 2, 3), true),
                new Parameter("model.b", Tensor.of(arena, new float[] {0.5f, -1}, 2), true));
    }
}
