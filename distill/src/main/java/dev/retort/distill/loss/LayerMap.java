package dev.retort.distill.loss;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Which student layer's output is distilled towards which teacher layer's, written "0:1,1:3,2:5" (student
 * layer → teacher layer). Layers are the 0-based decoder layers of the Hugging Face names
 * ({@code model.layers.i}); layer i's output is {@code layerOutputs.get(i + 1)} of
 * {@code LlamaModel.hidden} (entry 0 there is the embeddings).
 */
public record LayerMap(List<Pair> pairs) {

    /** Student layer {@code student}'s output is compared with teacher layer {@code teacher}'s. */
    public record Pair(int student, int teacher) {
        @Override
        public String toString() {
            return student + ":" + teacher;
        }
    }

    public LayerMap {
        pairs = List.copyOf(pairs);
        if (pairs.isEmpty()) throw new IllegalArgumentException("layer map: no layer pairs");
        Set<Integer> seen = new HashSet<>();
        for (Pair p : pairs) {
            if (p.student < 0 || p.teacher < 0) {
                throw new IllegalArgumentException("layer map: layer indices must be >= 0, got " + p);
            }
            if (!seen.add(p.student)) {
                throw new IllegalArgumentException("layer map: student layer " + p.student + " is mapped twice");
            }
        }
    }

    /**
     * Parses "s:t,s:t,..." (spaces around the numbers allowed). Errors name the offending entry and say what
     * was expected.
     */
    public static LayerMap parse(String spec) {
        if (spec == null || spec.isBlank()) {
            throw new IllegalArgumentException("layer map: empty; expected student:teacher pairs such as \"0:1,1:3,2:5\"");
        }
        List<Pair> pairs = new ArrayList<>();
        for (String entry : spec.split(",", -1)) {
            String[] sides = entry.split(":", -1);
            if (sides.length != 2) {
                throw new IllegalArgumentException("layer map: entry '" + entry.trim() + "' in \"" + spec
                        + "\" is not of the form student:teacher (e.g. \"0:1,1:3,2:5\")");
            }
            pairs.add(new Pair(layer(sides[0], entry, spec), layer(sides[1], entry, spec)));
        }
        return new LayerMap(pairs);
    }

    /**
     * The map that spreads {@code studentLayers} evenly over {@code teacherLayers}: student layer i ↔ teacher
     * layer ⌈(i + 1)·Lt/Ls⌉ − 1, so the last layers correspond (2 over 6 gives "0:2,1:5").
     */
    public static LayerMap uniform(int studentLayers, int teacherLayers) {
        if (studentLayers < 1 || teacherLayers < studentLayers) {
            throw new IllegalArgumentException("layer map: cannot spread " + studentLayers + " student layers over "
                    + teacherLayers + " teacher layers (expected 1 <= student layers <= teacher layers)");
        }
        List<Pair> pairs = new ArrayList<>();
        for (int i = 0; i < studentLayers; i++) {
            int teacher = (int) (((long) (i + 1) * teacherLayers + studentLayers - 1) / studentLayers) - 1;
            pairs.add(new Pair(i, teacher));
        }
        return new LayerMap(pairs);
    }

    /** Checks the indices against the two models' depths. */
    public LayerMap validate(int studentLayers, int teacherLayers) {
        for (Pair p : pairs) {
            if (p.student >= studentLayers) {
                throw new IllegalArgumentException("layer map: student layer " + p.student + " in \"" + this
                        + "\" does not exist (the student has layers 0.." + (studentLayers - 1) + ")");
            }
            if (p.teacher >= teacherLayers) {
                throw new IllegalArgumentException("layer map: teacher layer " + p.teacher + " in \"" + this
                        + "\" does not exist (the teacher has layers 0.." + (teacherLayers - 1) + ")");
            }
        }
        return this;
    }

    /** The "s:t,s:t" form that {@link #parse} reads. */
    @Override
    public String toString() {
        return pairs.stream().map(Pair::toString).collect(Collectors.joining(","));
    }

    private static int layer(String text, String entry, String spec) {
        String t = text.trim();
        try {
            return Integer.parseInt(t);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("layer map: '" + t + "' in entry '" + entry.trim() + "' of \"" + spec
                    + "\" is not a layer number (expected a non-negative integer)");
        }
    }
}
