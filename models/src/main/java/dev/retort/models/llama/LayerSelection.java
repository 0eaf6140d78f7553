package dev.retort.models.llama;

import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.hf.TensorInfo;
import dev.retort.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * A student made by keeping some of a teacher's layers ({@code --student-layers 0,2,4}): the config with fewer
 * layers, and a view of the teacher's weights in which student layer i is teacher layer keep[i]. Embeddings,
 * final norm and LM head are the teacher's. Nothing is copied until the student is loaded (trainable models
 * copy to F32 then).
 */
public final class LayerSelection {
    private LayerSelection() {}

    /** Parses "0,2,4" into sorted-as-given layer indices, each in [0, teacherLayers), no repeats. */
    public static int[] parse(String list, int teacherLayers) {
        String[] parts = list.split(",");
        int[] layers = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                layers[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--student-layers must be comma-separated layer numbers, got '" + list + "'");
            }
            if (layers[i] < 0 || layers[i] >= teacherLayers) {
                throw new IllegalArgumentException("--student-layers: layer " + layers[i] + " does not exist; the teacher has layers 0.." + (teacherLayers - 1));
            }
            for (int j = 0; j < i; j++) {
                if (layers[j] == layers[i]) throw new IllegalArgumentException("--student-layers: layer " + layers[i] + " is listed twice");
            }
        }
        return layers;
    }

    /** The teacher's config with {@code keep.length} layers. */
    public static LlamaConfig config(LlamaConfig teacher, int[] keep) {
        return teacher.withLayers(keep.length);
    }

    /** The teacher's weights renamed so that student layer i reads teacher layer keep[i]. */
    public static ModelWeights weights(ModelWeights teacher, int[] keep) {
        return new ModelWeights() {
            private String source(String name) {
                if (!name.startsWith("model.layers.")) return name;
                int dot = name.indexOf('.', "model.layers.".length());
                int layer = Integer.parseInt(name.substring("model.layers.".length(), dot));
                if (layer >= keep.length) throw new IllegalArgumentException("the student has " + keep.length + " layers, no '" + name + "'");
                return "model.layers." + keep[layer] + name.substring(dot);
            }

            @Override
            public SortedSet<String> names() {
                SortedSet<String> names = new TreeSet<>();
                for (String n : teacher.names()) {
                    if (!n.startsWith("model.layers.")) {
                        names.add(n);
                        continue;
                    }
                    int dot = n.indexOf('.', "model.layers.".length());
                    int layer = Integer.parseInt(n.substring("model.layers.".length(), dot));
                    for (int i = 0; i < keep.length; i++) {
                        if (keep[i] == layer) names.add("model.layers." + i + n.substring(dot));
                    }
                }
                return names;
            }

            @Override
            public boolean contains(String name) {
                try {
                    return teacher.contains(source(name));
                } catch (IllegalArgumentException e) {
                    return false;
                }
            }

            @Override
            public TensorInfo info(String name) {
                return teacher.info(source(name));
            }

            @Override
            public Tensor tensor(String name) {
                return teacher.tensor(source(name));
            }

            @Override
            public MemorySegment bytes(String name) {
                return teacher.bytes(source(name));
            }

            @Override
            public void close() {
                // the teacher's weights are closed by their owner
            }

            @Override
            public String toString() {
                return "layers " + Arrays.toString(keep) + " of " + teacher;
            }
        };
    }
}
