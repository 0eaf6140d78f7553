package dev.retort.spark;

import dev.retort.models.llama.Generator;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * One partition's generations on disk ({@code part-00003.generated}): for each sequence, in order, its index in the
 * job (sample j of input i is i·samples + j), the prompt it continued and what the teacher wrote. Java
 * serialization keeps every string exactly as generated; the file lives only until the driver has merged it.
 * Written atomically: a hidden temporary file, forced to disk, then renamed over the partition's name.
 */
final class GeneratedShard {
    /** Sequence {@code sequence} of the job: {@code prompt}, and the teacher's {@code result} after it. */
    record Generated(long sequence, String prompt, Generator.Result result) {}

    private GeneratedShard() {}

    static void write(Path shard, List<Generated> generated) {
        Path temp = shard.resolveSibling("." + shard.getFileName() + "." + UUID.randomUUID() + ".tmp");
        try {
            try (OutputStream file = Files.newOutputStream(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, StandardOpenOption.SYNC);
                 ObjectOutputStream out = new ObjectOutputStream(new BufferedOutputStream(file))) {
                out.writeInt(generated.size());
                for (Generated g : generated) {
                    Generator.Result r = g.result();
                    out.writeLong(g.sequence());
                    out.writeObject(g.prompt());
                    out.writeInt(r.promptTokens());
                    out.writeObject(r.generated());
                    out.writeObject(r.text());
                    out.writeObject(r.finish());
                    out.writeInt(r.eosToken());
                    out.writeDouble(r.seconds());
                }
            }
            Files.move(temp, shard, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException ignored) {
                // the directory's clean-up removes it later
            }
            throw new UncheckedIOException(shard + ": cannot write the shard: " + e, e);
        }
    }

    static List<Generated> read(Path shard) {
        try (ObjectInputStream in = new ObjectInputStream(new BufferedInputStream(Files.newInputStream(shard)))) {
            int n = in.readInt();
            List<Generated> generated = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                long sequence = in.readLong();
                String prompt = (String) in.readObject();
                int promptTokens = in.readInt();
                int[] tokens = (int[]) in.readObject();
                String text = (String) in.readObject();
                Generator.Finish finish = (Generator.Finish) in.readObject();
                generated.add(new Generated(sequence, prompt, new Generator.Result(promptTokens, tokens, text, finish, in.readInt(), in.readDouble())));
            }
            return generated;
        } catch (IOException | ClassNotFoundException | ClassCastException e) {
            throw new IllegalStateException(shard + ": not a shard of generations this job wrote (" + e + ")", e);
        }
    }
}
