package dev.retort.spark;

import dev.retort.distill.cache.TeacherCacheException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The directory the tasks write their shards in, on a file system every executor and the driver can reach. A
 * shard is named by its partition alone and the kind of job ({@code part-00003.rtkc} for a teacher cache,
 * {@code part-00003.generated} for generations), never by the task attempt, so a retried or
 * speculative attempt replaces its partition's shard (each is written atomically: a hidden temporary file, then a
 * rename) and can neither add a second copy of its sequences nor leave a partial one.
 *
 * <p>The job only ever deletes what it writes: a directory that holds any other file is refused, and once the
 * cache is merged its shards (and temporary files a killed attempt may have left) are removed, then the directory
 * if it is empty.
 */
public final class ShardDirectory {
    /** The suffix of teacher-cache shards. */
    public static final String CACHE = "rtkc";
    /** The suffix of generation shards ({@link GeneratedShard}). */
    public static final String GENERATED = "generated";

    private final Path directory;
    private final Pattern ours;   // the shards of this suffix, and the temporary files of attempts writing them

    private ShardDirectory(Path directory, Pattern ours) {
        this.directory = directory;
        this.ours = ours;
    }

    private static Pattern ours(String suffix) {
        String s = Pattern.quote("." + suffix);
        return Pattern.compile("part-\\d{5,}" + s + "|\\.part-\\d{5,}" + s + "\\..+\\.tmp");
    }

    /** The default beside the cache: {@code OUT.shards}. */
    public static Path besides(Path out) {
        return out.resolveSibling(out.getFileName() + ".shards");
    }

    /**
     * Creates {@code directory}, or takes one that holds nothing but shards (named {@code part-NNNNN.SUFFIX}) of an
     * earlier run.
     *
     * @throws TeacherCacheException naming the directory and the file that is not a shard, or why it cannot be made
     */
    public static ShardDirectory prepare(Path directory, String suffix) {
        Pattern ours = ours(suffix);
        if (Files.exists(directory) && !Files.isDirectory(directory)) {
            throw new TeacherCacheException(directory, "is a file; --shards expects a directory for the shards");
        }
        try {
            if (Files.isDirectory(directory)) {
                try (Stream<Path> files = Files.list(directory)) {
                    Path foreign = files.filter(f -> !ours.matcher(f.getFileName().toString()).matches()).findFirst().orElse(null);
                    if (foreign != null) {
                        throw new TeacherCacheException(directory, "holds " + foreign.getFileName() + ", which is not a shard "
                                + "(part-NNNNN." + suffix + "); give --shards an empty or new directory");
                    }
                }
            } else {
                Files.createDirectory(directory);
            }
        } catch (IOException e) {
            throw new TeacherCacheException(directory, "cannot make the shard directory: " + e, e);
        }
        return new ShardDirectory(directory, ours);
    }

    public Path path() {
        return directory;
    }

    /** Partition {@code partition}'s shard in {@code directory}: {@code part-NNNNN.SUFFIX}. */
    public static Path shard(Path directory, int partition, String suffix) {
        return directory.resolve(String.format(Locale.ROOT, "part-%05d.%s", partition, suffix));
    }

    /** Deletes the shards and temporary files the job wrote, then the directory when nothing else is left in it. */
    public void remove() {
        try {
            List<Path> written;
            try (Stream<Path> files = Files.list(directory)) {
                written = files.filter(f -> ours.matcher(f.getFileName().toString()).matches()).toList();
            }
            for (Path f : written) Files.deleteIfExists(f);
            try (Stream<Path> left = Files.list(directory)) {
                if (left.findAny().isEmpty()) Files.delete(directory);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(directory + ": cannot remove the shards after merging them: " + e, e);
        }
    }
}
