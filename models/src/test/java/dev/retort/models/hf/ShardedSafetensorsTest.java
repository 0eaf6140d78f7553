package dev.retort.models.hf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ShardedSafetensorsTest {
    private static final String SHARD1 = "model-00001-of-00002.safetensors";
    private static final String SHARD2 = "model-00002-of-00002.safetensors";

    @TempDir
    Path dir;

    private final Arena arena = Arena.ofConfined();

    @BeforeEach
    void writeShards() {
        Map<String, Tensor> first = new LinkedHashMap<>();
        first.put("model.embed_tokens.weight", Tensor.of(arena, new float[] {1, 2, 3, 4, 5, 6}, 3, 2));
        first.put("model.layers.0.input_layernorm.weight", Tensor.of(arena, new float[] {7, 8}, 2));
        Map<String, Tensor> second = new LinkedHashMap<>();
        second.put("model.layers.1.input_layernorm.weight", Tensor.of(arena, DType.BF16, new float[] {9, 10}, 2));
        second.put("model.norm.weight", Tensor.of(arena, new float[] {11, 12}, 2));
        SafetensorsWriter.write(dir.resolve(SHARD1), first);
        SafetensorsWriter.write(dir.resolve(SHARD2), second);
    }

    @AfterEach
    void freeMemory() {
        arena.close();
    }

    private Path index(String weightMap) {
        return TestFiles.write(dir.resolve(ModelWeights.INDEX_FILE),
                ("{\"metadata\":{\"total_size\":40},\"weight_map\":{" + weightMap + "}}").getBytes());
    }

    private static String entry(String name, String shard) {
        return "\"" + name + "\":\"" + shard + "\"";
    }

    private Path fullIndex() {
        return index(String.join(",",
                entry("model.embed_tokens.weight", SHARD1),
                entry("model.layers.0.input_layernorm.weight", SHARD1),
                entry("model.layers.1.input_layernorm.weight", SHARD2),
                entry("model.norm.weight", SHARD2)));
    }

    @Test
    void twoShardsReadAsOneCollectionWithEachShardMappedOnce() {
        fullIndex();
        try (ModelWeights weights = ModelWeights.open(dir)) {
            ShardedSafetensors sharded = assertInstanceOf(ShardedSafetensors.class, weights);
            assertEquals(2, sharded.shards().size(), "one mapping per shard");
            assertEquals(List.of("model.embed_tokens.weight", "model.layers.0.input_layernorm.weight",
                    "model.layers.1.input_layernorm.weight", "model.norm.weight"), List.copyOf(weights.names()));
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, weights.tensor("model.embed_tokens.weight").toFloatArray());
            assertArrayEquals(new float[] {9, 10}, weights.tensor("model.layers.1.input_layernorm.weight").toFloatArray());
            assertEquals(DType.BF16, weights.tensor("model.layers.1.input_layernorm.weight").dtype());
            assertArrayEquals(new float[] {11, 12}, weights.tensor("model.norm.weight").toFloatArray());
            assertEquals(SafetensorsDType.F32, weights.info("model.norm.weight").dtype());
        }
    }

    @Test
    void aDirectoryWithBothLayoutsOpensTheSingleFileAsTransformersDoes() {
        fullIndex();
        SafetensorsWriter.write(dir.resolve(ModelWeights.SINGLE_FILE), Map.of("single", Tensor.of(arena, new float[] {1}, 1)));
        try (ModelWeights weights = ModelWeights.open(dir)) {
            assertEquals(List.of("single"), List.copyOf(weights.names()));
        }
    }

    @Test
    void aMissingTensorNamesTheIndexAndCloseNames() {
        Path index = fullIndex();
        try (ModelWeights weights = ShardedSafetensors.open(index)) {
            ModelFileException e = assertThrows(ModelFileException.class,
                    () -> weights.tensor("model.layers.2.input_layernorm.weight"));
            assertEquals(index + ": no tensor 'model.layers.2.input_layernorm.weight'; close names: "
                    + "'model.layers.0.input_layernorm.weight', 'model.layers.1.input_layernorm.weight'", e.getMessage());
        }
    }

    @Test
    void aMissingShardIsAnErrorNamingTheIndexAndTheShard() throws IOException {
        Path index = fullIndex();
        Files.delete(dir.resolve(SHARD2));
        ModelFileException e = assertThrows(ModelFileException.class, () -> ShardedSafetensors.open(index));
        assertEquals(index + ": shard '" + SHARD2 + "' (named for 2 tensors, e.g. 'model.layers.1.input_layernorm.weight') "
                + "does not exist", e.getMessage());
    }

    @Test
    void aNameMappedToAShardThatLacksItIsAnError() {
        Path index = index(String.join(",",
                entry("model.embed_tokens.weight", SHARD1),
                entry("model.layers.0.input_layernorm.weight", SHARD1),
                entry("model.layers.1.input_layernorm.weight", SHARD2),
                entry("model.norm.weight", SHARD1)));
        ModelFileException e = assertThrows(ModelFileException.class, () -> ShardedSafetensors.open(index));
        assertEquals(index + ": weight_map puts tensor 'model.norm.weight' in shard '" + SHARD1
                + "', which has no such tensor", e.getMessage());
    }

    @Test
    void aShardTensorTheIndexDoesNotListIsAnError() {
        Path index = index(String.join(",",
                entry("model.embed_tokens.weight", SHARD1),
                entry("model.layers.0.input_layernorm.weight", SHARD1),
                entry("model.norm.weight", SHARD2)));
        ModelFileException e = assertThrows(ModelFileException.class, () -> ShardedSafetensors.open(index));
        assertEquals(index + ": shard '" + SHARD2 + "' holds tensor 'model.layers.1.input_layernorm.weight' that "
                + "weight_map does not list", e.getMessage());
    }

    @Test
    void aShardNameThatLeavesTheDirectoryIsRefused() {
        Path index = index(entry("model.norm.weight", "../elsewhere/" + SHARD2));
        ModelFileException e = assertThrows(ModelFileException.class, () -> ShardedSafetensors.open(index));
        assertEquals(index + ": weight_map entry 'model.norm.weight' names shard '../elsewhere/" + SHARD2
                + "', which is not a plain file name in the index's directory", e.getMessage());
    }

    @Test
    void anIndexWithoutAWeightMapIsAnError() {
        Path index = TestFiles.write(dir.resolve(ModelWeights.INDEX_FILE), "{\"metadata\":{}}".getBytes());
        ModelFileException e = assertThrows(ModelFileException.class, () -> ShardedSafetensors.open(index));
        assertEquals(index + ": missing required field weight_map", e.getMessage());
    }

    @Test
    void aBrokenShardIsReportedWithTheShardsOwnPath() throws IOException {
        Path index = fullIndex();
        Files.write(dir.resolve(SHARD2), new byte[] {1, 2, 3});
        ModelFileException e = assertThrows(ModelFileException.class, () -> ShardedSafetensors.open(index));
        assertEquals(dir.resolve(SHARD2), e.file());
        assertTrue(e.getMessage().endsWith("file is 3 bytes, shorter than the 8-byte header length"), e.getMessage());
    }

    @Test
    void closingUnmapsEveryShard() {
        Tensor fromSecondShard;
        try (ModelWeights weights = ShardedSafetensors.open(fullIndex())) {
            fromSecondShard = weights.tensor("model.norm.weight");
            assertEquals(11f, fromSecondShard.get(0));
        }
        assertThrows(IllegalStateException.class, () -> fromSecondShard.get(0));
    }
}
