package dev.retort.models.hf;

import static dev.retort.models.hf.JsonFields.quote;

import com.fasterxml.jackson.databind.JsonNode;
import dev.retort.models.InputFiles;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A sharded checkpoint: {@code model.safetensors.index.json} maps each tensor name ({@code weight_map}) to the
 * shard file holding it; the shards, each mapped once, are seen as one collection of tensors.
 *
 * <p>The index and the shards must agree exactly. Every name in the weight map must be in its shard, and every
 * tensor of a shard must be in the weight map under that shard: a tensor the index does not list would be
 * silently loaded by some tools and ignored by others, so it is an error here. Shard names must be plain file
 * names in the index's directory (no path separators), so a hostile index cannot point outside the model.
 */
public final class ShardedSafetensors implements ModelWeights {
    private final Path indexFile;
    private final SortedMap<String, SafetensorsFile> shardOf;
    private final SortedSet<String> names;
    private final List<SafetensorsFile> shards;
    private final Arena arena;
    private boolean closed;

    private ShardedSafetensors(Path indexFile, SortedMap<String, SafetensorsFile> shardOf,
                               List<SafetensorsFile> shards, Arena arena) {
        this.indexFile = indexFile;
        this.shardOf = Collections.unmodifiableSortedMap(shardOf);
        this.names = Collections.unmodifiableSortedSet(new TreeSet<>(shardOf.keySet()));
        this.shards = List.copyOf(shards);
        this.arena = arena;
    }

    /** Opens the index and maps every shard in an arena of its own, unmapped by {@link #close()}. */
    public static ShardedSafetensors open(Path indexFile) {
        Arena arena = Arena.ofShared();
        try {
            return open(indexFile, arena);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    private static ShardedSafetensors open(Path indexFile, Arena arena) {
        Map<String, String> weightMap = readWeightMap(indexFile);
        Path dir = indexFile.toAbsolutePath().getParent();

        // Group the names by shard (in first-seen order) so each shard is opened and mapped exactly once.
        Map<String, List<String>> namesByShard = new LinkedHashMap<>();
        weightMap.forEach((name, shard) -> namesByShard.computeIfAbsent(shard, s -> new ArrayList<>()).add(name));

        SortedMap<String, SafetensorsFile> shardOf = new TreeMap<>();
        List<SafetensorsFile> shards = new ArrayList<>();
        for (Map.Entry<String, List<String>> entry : namesByShard.entrySet()) {
            String shardName = entry.getKey();
            List<String> names = entry.getValue();
            Path shardPath = dir.resolve(shardName);
            if (!Files.exists(shardPath)) {
                throw new ModelFileException(indexFile, "shard " + quote(shardName) + " (named for " + names.size()
                        + " tensors, e.g. " + quote(names.getFirst()) + ") does not exist");
            }
            SafetensorsFile shard = SafetensorsFile.open(shardPath, arena);
            shards.add(shard);
            for (String name : names) {
                if (!shard.contains(name)) {
                    throw new ModelFileException(indexFile, "weight_map puts tensor " + quote(name) + " in shard "
                            + quote(shardName) + ", which has no such tensor");
                }
                shardOf.put(name, shard);
            }
            for (String name : shard.names()) {
                if (!shardName.equals(weightMap.get(name))) {
                    throw new ModelFileException(indexFile, "shard " + quote(shardName) + " holds tensor " + quote(name)
                            + (weightMap.containsKey(name) ? " but weight_map puts it in " + quote(weightMap.get(name))
                                    : " that weight_map does not list"));
                }
            }
        }
        return new ShardedSafetensors(indexFile, shardOf, shards, arena);
    }

    private static Map<String, String> readWeightMap(Path indexFile) {
        String text = InputFiles.readUtf8(indexFile, InputFiles.JSON_CONFIG_BYTES, ModelFileException::new);
        JsonNode root = JsonFields.parseObject(indexFile, text, "index");
        JsonNode map = JsonFields.objectValue(indexFile, "weight_map", JsonFields.required(indexFile, root, "weight_map"));
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> entry : map.properties()) {
            String field = "weight_map entry " + quote(entry.getKey());
            String shard = JsonFields.stringValue(indexFile, field, entry.getValue());
            if (shard.isEmpty() || shard.equals(".") || shard.equals("..") || shard.contains("/") || shard.contains("\\")
                    || shard.indexOf('\0') >= 0 || !isFileName(shard)) {
                throw new ModelFileException(indexFile, field + " names shard " + quote(shard)
                        + ", which is not a plain file name in the index's directory");
            }
            weightMap.put(entry.getKey(), shard);
        }
        return weightMap;
    }

    /** Whether the file system can name a file so (a lone UTF-16 surrogate, for one, it cannot). */
    private static boolean isFileName(String name) {
        try {
            Path.of(name);
            return true;
        } catch (java.nio.file.InvalidPathException e) {
            return false;
        }
    }

    /** The shard files, each mapped once. */
    public List<SafetensorsFile> shards() {
        return shards;
    }

    @Override
    public SortedSet<String> names() {
        return names;
    }

    @Override
    public boolean contains(String name) {
        return shardOf.containsKey(name);
    }

    private SafetensorsFile shard(String name) {
        SafetensorsFile shard = shardOf.get(name);
        if (shard == null) {
            throw new ModelFileException(indexFile, "no tensor " + quote(name) + "; "
                    + NameSuggestions.describe(name, shardOf.keySet()));
        }
        return shard;
    }

    @Override
    public TensorInfo info(String name) {
        return shard(name).info(name);
    }

    @Override
    public Tensor tensor(String name) {
        return shard(name).tensor(name);
    }

    @Override
    public MemorySegment bytes(String name) {
        return shard(name).bytes(name);
    }

    /** Unmaps every shard; closing again does nothing. */
    @Override
    public synchronized void close() {
        if (!closed) arena.close();
        closed = true;
    }

    @Override
    public String toString() {
        return "ShardedSafetensors[" + indexFile + ", " + shards.size() + " shards, " + shardOf.size() + " tensors]";
    }
}
