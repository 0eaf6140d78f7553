package dev.retort.models.adapter;

import static dev.retort.models.adapter.BottleneckAdapterTest.logits;
import static dev.retort.models.adapter.BottleneckAdapterTest.randomise;
import static dev.retort.models.adapter.BottleneckAdapterTest.tinyConfig;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Parameter;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.hf.SafetensorsFile;
import dev.retort.models.hf.SafetensorsWriter;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.lora.PeftAdapter;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bottleneck adapters saved beside their base and read back: bitwise, with their own config, and refused where wrong. */
class BottleneckFilesTest {
    @TempDir
    Path tmp;

    @Test
    void saveAndLoadRoundTripBitwise() throws Exception {
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel trained = LlamaModel.random(tinyConfig(), arena, 7);
            BottleneckModel adapters = BottleneckModel.attach(trained, new BottleneckConfig(5, BottleneckConfig.Placement.MLP, 3));
            randomise(adapters, 0.3, 21);
            float[] expected = logits(trained, pool);
            Path dir = tmp.resolve("adapter");
            BottleneckFiles.save(dir, adapters, "base/dir");

            Map<?, ?> config = new ObjectMapper().readValue(dir.resolve(BottleneckFiles.CONFIG_FILE).toFile(), Map.class);
            assertEquals(Map.of("adapter_type", "retort_bottleneck", "base_model_name_or_path", "base/dir", "bottleneck_size", 5,
                    "non_linearity", "silu", "placement", "mlp"), config);
            assertTrue(BottleneckFiles.holdsBottleneck(dir));
            try (SafetensorsFile file = SafetensorsFile.open(dir.resolve(BottleneckFiles.WEIGHTS_FILE))) {
                assertEquals(adapters.namedParameters().keySet(), file.names(), "one tensor per parameter, by its name");
                assertTrue(file.names().contains("model.layers.1.mlp.adapter.up.weight"));
            }

            LlamaModel fresh = LlamaModel.random(tinyConfig(), arena, 7);
            BottleneckModel loaded = BottleneckFiles.load(dir, fresh);
            assertEquals(adapters.config().size(), loaded.config().size());
            assertEquals(BottleneckConfig.Placement.MLP, loaded.config().placement());
            Map<String, Parameter> before = adapters.namedParameters();
            for (Map.Entry<String, Parameter> e : loaded.namedParameters().entrySet()) {
                assertArrayEquals(before.get(e.getKey()).value().toFloatArray(), e.getValue().value().toFloatArray(), e.getKey());
                assertTrue(e.getValue().trainable(), e.getKey() + " can train further");
            }
            assertArrayEquals(expected, logits(fresh, pool), "the loaded adapters give the trained model's logits bitwise");
        }
    }

    @Test
    void aBottleneckDirectoryIsNotMistakenForPeftLora() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.random(tinyConfig(), arena, 7);
            BottleneckModel adapters = BottleneckModel.attach(model, BottleneckConfig.of(4));
            Path dir = tmp.resolve("bottleneck");
            BottleneckFiles.save(dir, adapters, null);
            adapters.detach();
            ModelFileException e = assertThrows(ModelFileException.class, () -> PeftAdapter.load(dir, model));
            assertTrue(e.getMessage().contains("retort_bottleneck") && e.getMessage().contains("cannot be merged"), e.getMessage());
            assertFalse(BottleneckFiles.holdsBottleneck(tmp.resolve("nowhere")));
        }
    }

    @Test
    void wrongFilesAreRefusedInOneLineAndTheModelIsLeftAsItWas() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.random(tinyConfig(), arena, 7);
            BottleneckModel adapters = BottleneckModel.attach(model, BottleneckConfig.of(4));
            Path good = tmp.resolve("good");
            BottleneckFiles.save(good, adapters, null);
            adapters.detach();

            // a config of another width than the tensors
            Path wide = copy(good, "wide");
            Files.writeString(wide.resolve(BottleneckFiles.CONFIG_FILE), Files.readString(wide.resolve(BottleneckFiles.CONFIG_FILE))
                    .replace("\"bottleneck_size\" : 4", "\"bottleneck_size\" : 8"));
            assertRefused(wide, model, BottleneckFiles.WEIGHTS_FILE, "has shape [4, 16]", "needs [8, 16]");

            // placement attention, but the file holds both blocks' adapters
            Path attention = copy(good, "attention");
            Files.writeString(attention.resolve(BottleneckFiles.CONFIG_FILE), Files.readString(attention.resolve(BottleneckFiles.CONFIG_FILE))
                    .replace("\"both\"", "\"attention\""));
            assertRefused(attention, model, BottleneckFiles.WEIGHTS_FILE, "unexpected tensor 'model.layers.0.mlp.adapter.down.bias'");

            // a tensor missing
            Path missing = copy(good, "missing");
            try (SafetensorsFile file = SafetensorsFile.open(good.resolve(BottleneckFiles.WEIGHTS_FILE))) {
                Map<String, Tensor> tensors = new LinkedHashMap<>();
                for (String name : file.names()) if (!name.equals("model.layers.1.self_attn.adapter.up.bias")) tensors.put(name, file.tensor(name));
                SafetensorsWriter.write(missing.resolve(BottleneckFiles.WEIGHTS_FILE), tensors);
            }
            assertRefused(missing, model, BottleneckFiles.WEIGHTS_FILE, "missing tensor model.layers.1.self_attn.adapter.up.bias");

            // another nonlinearity, an unknown placement
            Path gelu = copy(good, "gelu");
            Files.writeString(gelu.resolve(BottleneckFiles.CONFIG_FILE), Files.readString(gelu.resolve(BottleneckFiles.CONFIG_FILE))
                    .replace("\"silu\"", "\"gelu\""));
            assertRefused(gelu, model, BottleneckFiles.CONFIG_FILE, "non_linearity is \"gelu\"");
            Path everywhere = copy(good, "everywhere");
            Files.writeString(everywhere.resolve(BottleneckFiles.CONFIG_FILE), Files.readString(everywhere.resolve(BottleneckFiles.CONFIG_FILE))
                    .replace("\"both\"", "\"everywhere\""));
            assertRefused(everywhere, model, BottleneckFiles.CONFIG_FILE, "placement 'everywhere'");

            for (var layer : model.layers()) {
                assertNull(layer.oProj.adapter(), "nothing stays attached after a refusal");
                assertNull(layer.downProj.adapter(), "nothing stays attached after a refusal");
            }
            assertEquals(model.namedParameters().size(), model.trainableParameters().size(), "trainable flags restored");
        }
    }

    private Path copy(Path from, String name) throws Exception {
        Path to = tmp.resolve(name);
        Files.createDirectories(to);
        for (String file : new String[] {BottleneckFiles.CONFIG_FILE, BottleneckFiles.WEIGHTS_FILE}) Files.copy(from.resolve(file), to.resolve(file));
        return to;
    }

    private static void assertRefused(Path dir, LlamaModel model, String file, String... parts) {
        ModelFileException e = assertThrows(ModelFileException.class, () -> BottleneckFiles.load(dir, model));
        String message = e.getMessage();
        assertEquals(1, message.lines().count(), message);
        assertTrue(message.startsWith(dir.resolve(file).toString()), "names the file: " + message);
        for (String part : parts) assertTrue(message.contains(part), "expected '" + part + "' in: " + message);
    }
}
