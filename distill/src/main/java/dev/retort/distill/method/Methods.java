package dev.retort.distill.method;

import dev.retort.distill.meta.MetaMethod;
import dev.retort.distill.progressive.ProgressiveMethod;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/** Every method {@code retort distill --method} knows, by name. */
public final class Methods {
    private Methods() {}

    /** In the order --help lists them. */
    public static List<Method> all() {
        return List.of(new SftMethod(), KdMethod.kd(), KdMethod.neo(), new MetaMethod(), new SeqKdMethod(), new GkdMethod(),
                new ProgressiveMethod());
    }

    /** The method called {@code name} (any case), or a one-line error listing the choices. */
    public static Method named(String name) {
        for (Method m : all()) {
            if (m.name().equals(name.toLowerCase(Locale.ROOT).trim())) return m;
        }
        throw new IllegalArgumentException("--method must be " + names() + ", got '" + name + "'");
    }

    /** "sft, kd, neo, meta, seqkd, gkd or progressive". */
    public static String names() {
        List<String> names = all().stream().map(Method::name).toList();
        return names.subList(0, names.size() - 1).stream().collect(Collectors.joining(", ")) + " or " + names.getLast();
    }
}
