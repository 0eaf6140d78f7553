package dev.retort.models.lora;

import java.math.BigDecimal;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * JSON text laid out as Python's {@code json.dumps(value, indent=2, sort_keys=True)} lays it out, which is how
 * PEFT writes {@code adapter_config.json}: keys sorted, two-space indent, {@code ", "}-free line ends,
 * {@code "key": value}, empty containers as {@code {}} and {@code []}, floats in Python's repr. Values are
 * null, Boolean, Integer/Long, Double, String, List and Map with String keys.
 */
final class PythonJson {
    private PythonJson() {}

    static String dumps(Object value) {
        StringBuilder out = new StringBuilder();
        write(out, value, 0);
        return out.toString();
    }

    private static void write(StringBuilder out, Object value, int depth) {
        switch (value) {
            case null -> out.append("null");
            case Boolean b -> out.append(b ? "true" : "false");
            case Integer i -> out.append(i);
            case Long l -> out.append(l);
            case Double d -> out.append(pythonFloat(d));
            case String s -> string(out, s);
            case List<?> list -> {
                if (list.isEmpty()) {
                    out.append("[]");
                    return;
                }
                out.append("[");
                for (int i = 0; i < list.size(); i++) {
                    newline(out, depth + 1);
                    write(out, list.get(i), depth + 1);
                    if (i + 1 < list.size()) out.append(",");
                }
                newline(out, depth);
                out.append("]");
            }
            case Map<?, ?> map -> {
                if (map.isEmpty()) {
                    out.append("{}");
                    return;
                }
                out.append("{");
                int i = 0;
                for (Map.Entry<?, ?> e : new TreeMap<>(map).entrySet()) {
                    newline(out, depth + 1);
                    string(out, (String) e.getKey());
                    out.append(": ");
                    write(out, e.getValue(), depth + 1);
                    if (++i < map.size()) out.append(",");
                }
                newline(out, depth);
                out.append("}");
            }
            default -> throw new IllegalArgumentException("no JSON form for " + value.getClass().getName());
        }
    }

    private static void newline(StringBuilder out, int depth) {
        out.append('\n').append("  ".repeat(depth));
    }

    /** Python's default ensure_ascii=True: non-ASCII characters as \\uXXXX escapes. */
    private static void string(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20 || c > 0x7e) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
                }
            }
        }
        out.append('"');
    }

    /** repr(float): the shortest round-tripping digits, positional for 1e-4 ≤ |x| &lt; 1e16, else d.ddde±XX. */
    static String pythonFloat(double x) {
        if (Double.isNaN(x)) return "NaN";
        if (Double.isInfinite(x)) return x > 0 ? "Infinity" : "-Infinity";
        if (x == 0) return (1 / x < 0) ? "-0.0" : "0.0";
        BigDecimal shortest = new BigDecimal(Double.toString(x));   // Java's toString is also the shortest digits
        double magnitude = Math.abs(x);
        if (magnitude >= 1e-4 && magnitude < 1e16) {
            String plain = shortest.stripTrailingZeros().toPlainString();
            return plain.contains(".") ? plain : plain + ".0";
        }
        BigDecimal unscaled = shortest.stripTrailingZeros();
        String digits = unscaled.unscaledValue().abs().toString();
        int exponent = digits.length() - 1 - unscaled.scale();
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        return (x < 0 ? "-" : "") + mantissa + "e" + (exponent < 0 ? "-" : "+") + String.format("%02d", Math.abs(exponent));
    }
}
