package dev.retort.distill.report;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * report.html: a self-contained page (inline SVG, no scripts, no network) with the run's curves and settings.
 * Each chart plots one or more series of (step, value) points read from metrics.jsonl.
 */
public final class HtmlReport {
    private static final String[] COLOURS = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

    private final String title;
    private final List<String> sections = new ArrayList<>();

    public HtmlReport(String title) {
        this.title = title;
    }

    /** A line chart over training steps: series name → points (step, y); points with a non-finite y are skipped. */
    public HtmlReport chart(String heading, String yLabel, Map<String, List<double[]>> series) {
        return chart(heading, "step", yLabel, series);
    }

    /** A line chart: series name → points (x, y); points with a non-finite y are skipped. */
    public HtmlReport chart(String heading, String xLabel, String yLabel, Map<String, List<double[]>> series) {
        StringBuilder svg = new StringBuilder();
        int w = 640, h = 280, left = 60, right = 150, top = 20, bottom = 40;
        double xMin = Double.POSITIVE_INFINITY, xMax = Double.NEGATIVE_INFINITY, yMin = Double.POSITIVE_INFINITY, yMax = Double.NEGATIVE_INFINITY;
        for (List<double[]> points : series.values()) {
            for (double[] p : points) {
                if (!Double.isFinite(p[1])) continue;
                xMin = Math.min(xMin, p[0]);
                xMax = Math.max(xMax, p[0]);
                yMin = Math.min(yMin, p[1]);
                yMax = Math.max(yMax, p[1]);
            }
        }
        if (!Double.isFinite(xMin)) return this;
        if (xMax == xMin) xMax = xMin + 1;
        if (yMax == yMin) yMax = yMin + 1;
        double pad = 0.05 * (yMax - yMin);
        yMin -= pad;
        yMax += pad;
        final double x0 = xMin, x1 = xMax, y0 = yMin, y1 = yMax;
        int plotW = w - left - right, plotH = h - top - bottom;
        java.util.function.DoubleUnaryOperator sx = x -> left + (x - x0) / (x1 - x0) * plotW;
        java.util.function.DoubleUnaryOperator sy = y -> top + (1 - (y - y0) / (y1 - y0)) * plotH;

        svg.append(String.format(Locale.ROOT, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' role='img' aria-label='%s'>", w, h, escape(heading)));
        svg.append(String.format(Locale.ROOT, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#999'/>", left, top, plotW, plotH));
        for (int i = 0; i <= 4; i++) {
            double y = y0 + (y1 - y0) * i / 4, py = sy.applyAsDouble(y);
            svg.append(String.format(Locale.ROOT, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#eee'/>", left, left + plotW, py, py));
            svg.append(String.format(Locale.ROOT, "<text x='%d' y='%.1f' font-size='11' text-anchor='end'>%s</text>", left - 4, py + 4, number(y)));
            double x = x0 + (x1 - x0) * i / 4, px = sx.applyAsDouble(x);
            svg.append(String.format(Locale.ROOT, "<text x='%.1f' y='%d' font-size='11' text-anchor='middle'>%s</text>", px, top + plotH + 16, number(x)));
        }
        svg.append(String.format(Locale.ROOT, "<text x='%d' y='%d' font-size='12' text-anchor='middle'>%s</text>", left + plotW / 2, h - 6, escape(xLabel)));
        svg.append(String.format(Locale.ROOT, "<text x='14' y='%d' font-size='12' text-anchor='middle' transform='rotate(-90 14 %d)'>%s</text>",
                top + plotH / 2, top + plotH / 2, escape(yLabel)));
        int colour = 0;
        for (Map.Entry<String, List<double[]>> e : series.entrySet()) {
            StringBuilder path = new StringBuilder();
            for (double[] p : e.getValue()) {
                if (!Double.isFinite(p[1])) continue;
                path.append(path.isEmpty() ? "M" : " L").append(String.format(Locale.ROOT, "%.1f %.1f", sx.applyAsDouble(p[0]), sy.applyAsDouble(p[1])));
            }
            String c = COLOURS[colour++ % COLOURS.length];
            svg.append("<path d='").append(path).append("' fill='none' stroke='").append(c).append("' stroke-width='1.5'/>");
            if (e.getValue().size() <= MARKED_POINTS) {   // a short series (an evaluation or two) is drawn as points too
                for (double[] p : e.getValue()) {
                    if (!Double.isFinite(p[1])) continue;
                    svg.append(String.format(Locale.ROOT, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s'/>", sx.applyAsDouble(p[0]),
                            sy.applyAsDouble(p[1]), c));
                }
            }
            int ly = top + 14 * colour;
            svg.append(String.format(Locale.ROOT, "<line x1='%d' x2='%d' y1='%d' y2='%d' stroke='%s' stroke-width='3'/>", left + plotW + 10, left + plotW + 28, ly, ly, c));
            svg.append(String.format(Locale.ROOT, "<text x='%d' y='%d' font-size='12'>%s</text>", left + plotW + 32, ly + 4, escape(e.getKey())));
        }
        svg.append("</svg>");
        sections.add("<h2>" + escape(heading) + "</h2>\n" + svg);
        return this;
    }

    /** Series with at most this many points get a marker at each point (one point is otherwise invisible). */
    private static final int MARKED_POINTS = 20;

    /** A table: header row then rows of cells. */
    public HtmlReport table(String heading, List<String> header, List<List<String>> rows) {
        StringBuilder t = new StringBuilder("<h2>" + escape(heading) + "</h2>\n<table><tr>");
        for (String h : header) t.append("<th>").append(escape(h)).append("</th>");
        t.append("</tr>");
        for (List<String> row : rows) {
            t.append("<tr>");
            for (String cell : row) t.append("<td>").append(escape(cell)).append("</td>");
            t.append("</tr>");
        }
        sections.add(t.append("</table>").toString());
        return this;
    }

    /** A two-column table of settings. */
    public HtmlReport settings(String heading, Map<String, String> settings) {
        List<List<String>> rows = new ArrayList<>();
        settings.forEach((k, v) -> rows.add(List.of(k, v)));
        return table(heading, List.of("setting", "value"), rows);
    }

    /** A paper's claim, what this run measured, and whether the claim held here ("holds", "does not hold", ...). */
    public HtmlReport finding(String claim, String measured, String verdict) {
        sections.add("<div class='finding'><p><b>Claim:</b> " + escape(claim) + "</p><p><b>Measured here:</b> " + escape(measured)
                + "</p><p><b>Verdict:</b> " + escape(verdict) + "</p></div>");
        return this;
    }

    public HtmlReport paragraph(String text) {
        sections.add("<p>" + escape(text) + "</p>");
        return this;
    }

    /** Writes the page atomically (temporary file, then rename). */
    public void write(Path file) {
        String html = "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>" + escape(title) + "</title>\n"
                + "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}"
                + "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
                + "th{background:#f4f4f4}h2{margin-top:1.6em}.finding{border-left:4px solid #1f77b4;padding-left:1em}</style></head><body>\n<h1>" + escape(title) + "</h1>\n"
                + String.join("\n", sections) + "\n</body></html>\n";
        try {
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.writeString(tmp, html, StandardCharsets.UTF_8);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot write the report: " + e.getMessage(), e);
        }
    }

    /** Points (step, metric) from metrics rows that have that metric. */
    public static List<double[]> series(List<Map<String, Object>> rows, String metric) {
        List<double[]> points = new ArrayList<>();
        for (Map<String, Object> row : rows) {
            if (row.get(metric) instanceof Number v && row.get("step") instanceof Number s) {
                points.add(new double[] {s.doubleValue(), v.doubleValue()});
            }
        }
        return points;
    }

    public static Map<String, List<double[]>> one(String name, List<double[]> points) {
        Map<String, List<double[]>> m = new LinkedHashMap<>();
        m.put(name, points);
        return m;
    }

    static String number(double v) {
        double a = Math.abs(v);
        if (a != 0 && (a < 1e-3 || a >= 1e5)) return String.format(Locale.ROOT, "%.2e", v);
        if (a >= 100) return String.format(Locale.ROOT, "%.0f", v);
        return String.format(Locale.ROOT, "%.3g", v);
    }

    static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;").replace("\"", "&quot;");
    }
}
