package dev.retort.distill.train;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * What a run cost: wall time, CPU time of the whole process, its peak resident memory, and energy — read from
 * the Linux powercap (RAPL) package counter when it is readable, otherwise an estimate, labelled as one:
 * CPU-seconds × a power figure per busy core ({@code --core-watts}). The Cantini et al. seed's claim (a LoRA
 * meta-update saves time, memory and energy) is a claim about exactly these numbers.
 *
 * @param peakRssBytes the process's peak resident set (VmHWM) so far: since the JVM started, not since the run
 *                     did; -1 where /proc is not there
 * @param energySource "rapl" or "estimate: CPU-seconds × W per core"
 */
public record ResourceUse(double wallSeconds, double cpuSeconds, long peakRssBytes, double energyJoules, String energySource) {

    private static final Path RAPL = Path.of("/sys/class/powercap/intel-rapl:0/energy_uj");
    private static final Path RAPL_RANGE = Path.of("/sys/class/powercap/intel-rapl:0/max_energy_range_uj");

    /** A meter started now. */
    public static Meter start(double coreWatts) {
        if (!(coreWatts > 0) || Double.isInfinite(coreWatts)) {
            throw new IllegalArgumentException("--core-watts must be a positive number, got " + coreWatts);
        }
        return new Meter(coreWatts);
    }

    /** Reads the counters at its start and when {@link #stop} is called. */
    public static final class Meter {
        private final double coreWatts;
        private final long wall0 = System.nanoTime();
        private final long cpu0 = processCpuNanos();
        private final long rapl0 = raplMicrojoules();

        private Meter(double coreWatts) {
            this.coreWatts = coreWatts;
        }

        public ResourceUse stop() {
            double wall = (System.nanoTime() - wall0) / 1e9;
            double cpu = (processCpuNanos() - cpu0) / 1e9;
            long rapl1 = raplMicrojoules();
            if (rapl0 >= 0 && rapl1 >= 0) {
                long delta = rapl1 - rapl0;
                if (delta < 0) delta += raplRange();   // the counter wrapped
                return new ResourceUse(wall, cpu, peakRss(), delta / 1e6, "rapl");
            }
            return new ResourceUse(wall, cpu, peakRss(), cpu * coreWatts,
                    String.format(Locale.ROOT, "estimate: CPU-seconds × %.1f W per core", coreWatts));
        }
    }

    /** For metrics.jsonl. */
    public Map<String, Object> asRow() {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("wall_s", wallSeconds);
        row.put("cpu_s", cpuSeconds);
        row.put("peak_rss_mb", peakRssBytes < 0 ? Double.NaN : peakRssBytes / 1e6);
        row.put("energy_j", energyJoules);
        row.put("energy_source", energySource);
        return row;
    }

    /** One line: "wall 12.3 s, CPU 20.1 s, peak RSS 850 MB, energy 201 J (estimate: ...)". */
    public String summary() {
        return String.format(Locale.ROOT, "wall %.1f s, CPU %.1f s, peak RSS %s, energy %.0f J (%s)", wallSeconds, cpuSeconds,
                peakRssBytes < 0 ? "unknown" : String.format(Locale.ROOT, "%.0f MB", peakRssBytes / 1e6), energyJoules, energySource);
    }

    private static long processCpuNanos() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getProcessCpuTime();
        }
        return 0;
    }

    private static long raplMicrojoules() {
        try {
            return Long.parseLong(Files.readString(RAPL).trim());
        } catch (IOException | RuntimeException e) {
            return -1;   // no powercap here, or not readable (it often needs root)
        }
    }

    private static long raplRange() {
        try {
            return Long.parseLong(Files.readString(RAPL_RANGE).trim());
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** The process's peak resident set (VmHWM from /proc/self/status) in bytes, or -1 off Linux. */
    public static long peakRss() {
        return procKilobytes(Path.of("/proc/self/status"), "VmHWM:");
    }

    /**
     * Resets the process's peak resident set to its current size (Linux: "5" written to /proc/self/clear_refs), so
     * that {@link #peakRss} after a run is that run's peak rather than the process's; does nothing where that file
     * is not writable.
     */
    public static void resetPeakRss() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException | RuntimeException e) {
            // not Linux, or not allowed: the peak stays the process's
        }
    }

    /**
     * A "Key:   N kB" line of a /proc file (/proc/self/status, /proc/meminfo) in bytes, or -1 where the file or
     * the line is not there (not Linux).
     */
    public static long procKilobytes(Path file, String key) {
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.startsWith(key)) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return -1;
    }
}
