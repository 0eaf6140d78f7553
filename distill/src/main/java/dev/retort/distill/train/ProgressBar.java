package dev.retort.distill.train;

import java.io.PrintStream;
import java.util.Locale;

/**
 * One status line on standard error, redrawn in place on a terminal ("step 120/500 [=====>   ] loss 2.345
 * 1,234 tok/s ETA 1:23"); without a terminal, a plain line every 10% so logs stay readable.
 */
public final class ProgressBar {
    private final PrintStream out;
    private final long total;
    private final boolean terminal;
    private final long startNanos = System.nanoTime();
    private long startStep = -1;
    private int lastDecile = -1;

    public ProgressBar(PrintStream out, long total) {
        this.out = out;
        this.total = total;
        this.terminal = System.console() != null;
    }

    public void update(long step, double loss, double tokensPerSecond) {
        if (startStep < 0) startStep = step - 1;
        double fraction = (double) step / total;
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        double eta = step > startStep ? elapsed / (step - startStep) * (total - step) : 0;
        int width = 24, filled = (int) Math.round(fraction * width);
        String bar = "=".repeat(Math.max(0, filled - 1)) + (filled > 0 ? ">" : "") + " ".repeat(width - filled);
        String line = String.format(Locale.ROOT, "step %d/%d [%s] loss %.4f  %,.0f tok/s  ETA %s",
                step, total, bar, loss, tokensPerSecond, clock(eta));
        if (terminal) {
            out.print("\r" + line);
            if (step == total) out.println();
        } else {
            int decile = (int) (fraction * 10);
            if (decile != lastDecile || step == total) {
                out.println(line);
                lastDecile = decile;
            }
        }
        out.flush();
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }
}
