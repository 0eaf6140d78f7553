package dev.retort.models.hf;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.retort.autograd.Parameter;
import dev.retort.models.InputFiles;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * The files of a small module kept beside a model (bottleneck adapters, a token-pruning scorer, a LoRA adapter's
 * weights): its parameters as one safetensors file and its settings as one JSON object, each written atomically,
 * and read back with every tensor's name, shape and type checked, failing in one line naming the file.
 */
public final class ModuleFiles {
    private static final ObjectMapper MAPPER = JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    private ModuleFiles() {}

    /** Writes {@code parameters} (their values, by name) to {@code dir/weightsFile}, creating {@code dir}; {@code what} names it in an error. */
    public static void writeParameters(Path dir, String weightsFile, Map<String, Parameter> parameters, String what) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new ModelFileException(dir, "cannot create the " + what + ": " + e, e);
        }
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : parameters.entrySet()) tensors.put(e.getKey(), e.getValue().value());
        SafetensorsWriter.write(dir.resolve(weightsFile), tensors, Map.of("format", "pt"));
    }

    /** Writes {@code json} pretty-printed with a closing newline, atomically; {@code what} names it in an error. */
    public static void writeJson(Path file, Map<String, Object> json, String what) {
        byte[] text;
        try {
            text = (MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(json) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (JacksonException e) {
            throw new IllegalStateException("cannot render the " + what + ": " + e.getOriginalMessage(), e);
        }
        AtomicFile.write(file, out -> AtomicFile.writeFully(out, ByteBuffer.wrap(text)));
    }

    /** The JSON object in {@code file} (bounded, strict about duplicate keys), or one line naming the file. */
    public static JsonNode readObject(Path file) {
        String text = InputFiles.readUtf8(file, InputFiles.JSON_CONFIG_BYTES, ModelFileException::new);
        JsonNode root;
        try {
            root = MAPPER.readTree(text);
        } catch (JacksonException e) {
            throw new ModelFileException(file, "is not valid JSON: " + e.getOriginalMessage().replaceAll("\\s+", " "), e);
        }
        if (root == null || !root.isObject()) throw new ModelFileException(file, "must hold a JSON object");
        return root;
    }

    /**
     * Copies every {@code expected} parameter from {@code file} (read from {@code weightsFile}), widening BF16/F16
     * exactly. Refused: a tensor the module does not have ("unexpected tensor 'NAME'" + {@code unexpected} of all
     * such names), a missing one, one of another shape ("tensor NAME has shape [..]" + {@code needs} of the
     * parameter), and I8.
     */
    public static void fill(SafetensorsFile file, Path weightsFile, Map<String, Parameter> expected,
                            Function<SortedSet<String>, String> unexpected, Function<Parameter, String> needs) {
        TreeSet<String> extra = new TreeSet<>(file.names());
        extra.removeAll(expected.keySet());
        if (!extra.isEmpty()) throw new ModelFileException(weightsFile, "unexpected tensor '" + extra.first() + "'" + unexpected.apply(extra));
        for (Parameter p : expected.values()) {
            if (!file.contains(p.name())) throw new ModelFileException(weightsFile, "missing tensor " + p.name());
            Tensor t = file.tensor(p.name());
            if (!Arrays.equals(t.shape(), p.shape())) {
                throw new ModelFileException(weightsFile, "tensor " + p.name() + " has shape " + Arrays.toString(t.shape()) + needs.apply(p));
            }
            if (t.dtype() == DType.I8) throw new ModelFileException(weightsFile, "tensor " + p.name() + " is I8; expected F32, BF16 or F16");
            t.copyInto(p.value());   // widens BF16/F16 exactly
        }
    }
}
