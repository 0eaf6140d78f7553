package dev.retort.models.hf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** {@code --no-mmap}: every tensor the file's bytes, copied once into memory that is not the mapping. */
class LoadedWeightsTest {
    @Test
    void everyTensorIsABytewiseCopyOutsideTheMapping() {
        try (SafetensorsFile file = SafetensorsFile.open(SharedAssets.require("stories260K/model.safetensors"));
             LoadedWeights loaded = new LoadedWeights(SafetensorsFile.open(file.path()))) {
            assertEquals(file.names(), loaded.names());
            for (String name : file.names()) {
                Tensor mapped = file.tensor(name), copy = loaded.tensor(name);
                assertEquals(mapped.dtype(), copy.dtype(), name);
                assertArrayEquals(mapped.shape(), copy.shape(), name);
                MemorySegment a = file.bytes(name);
                MemorySegment b = copy.segment().asSlice(copy.byteOffset(), copy.dtype().byteSize(copy.size()));
                assertEquals(-1, a.mismatch(b), name + ": bytes differ");
                assertTrue(mapped.segment().isMapped(), name + " mapped in the file");
                assertFalse(copy.segment().isMapped(), name + " copied out of the mapping");
                assertEquals(0, b.address() % 64, name + " copy starts on a cache line");
                assertSame(copy, loaded.tensor(name), name + " copied once");
            }
        }
    }

    @Test
    void closingFreesTheCopiesAndClosesTheFile() {
        SafetensorsFile file = SafetensorsFile.open(SharedAssets.require("stories260K/model.safetensors"));
        LoadedWeights loaded = new LoadedWeights(file);
        String name = loaded.names().first();
        Tensor copy = loaded.tensor(name);
        loaded.close();
        assertThrows(IllegalStateException.class, () -> copy.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
        assertThrows(IllegalStateException.class, () -> file.tensor(name).segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
        assertThrows(IllegalStateException.class, () -> loaded.tensor(name));
        loaded.close();   // again: nothing
    }
}
