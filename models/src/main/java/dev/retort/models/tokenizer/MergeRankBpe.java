package dev.retort.models.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE model of a Hugging Face {@code tokenizer.json}: a word starts as one symbol per character (or per
 * UTF-8 byte through {@code <0xXX>} tokens when the character is not in the vocabulary and byte fallback is
 * on), then the adjacent pair with the lowest merge rank is merged, leftmost first, until no pair has a
 * merge. Candidate merges sit in a heap and stale ones are dropped when popped, as HF's {@code Word::merge_all}
 * does, so a long word costs O(n log n) and not a rescan per merge.
 */
final class MergeRankBpe {

    /** HF keeps at most this many words in its cache, and only words shorter than 256 bytes. */
    private static final int CACHE_CAPACITY = 10_000;
    private static final int CACHEABLE_LENGTH = 256;

    private final Map<String, Integer> vocab;
    private final PairRankMap rankOfPair;
    private final int[] mergedIdOfRank;
    private final int unkId;
    private final boolean fuseUnk;
    private final int[] byteFallbackIds; // id of "<0xXX>" per byte value, -1 where absent; null: no fallback
    private final boolean ignoreMerges;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param merges for each rank, the left id, right id and merged id
     * @param unkId the unknown token's id, or -1 when unknown characters are dropped
     */
    MergeRankBpe(Map<String, Integer> vocab, int[][] merges, int unkId, boolean fuseUnk, boolean byteFallback,
            boolean ignoreMerges) {
        this.vocab = vocab;
        this.rankOfPair = new PairRankMap(merges.length);
        this.mergedIdOfRank = new int[merges.length];
        for (int rank = 0; rank < merges.length; rank++) {
            rankOfPair.put(merges[rank][0], merges[rank][1], rank);
            mergedIdOfRank[rank] = merges[rank][2];
        }
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        this.ignoreMerges = ignoreMerges;
        if (byteFallback) {
            byteFallbackIds = new int[256];
            for (int b = 0; b < 256; b++) {
                byteFallbackIds[b] = vocab.getOrDefault(String.format("<0x%02X>", b), -1);
            }
        } else {
            byteFallbackIds = null;
        }
    }

    /** Appends the ids of one pre-tokenized word. */
    void tokenize(String word, IntList out) {
        if (word.isEmpty()) {
            return;
        }
        if (ignoreMerges) {
            Integer whole = vocab.get(word);
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        int[] ids = cache.get(word);
        if (ids == null) {
            ids = merge(initialSymbols(word));
            if (word.length() < CACHEABLE_LENGTH && cache.size() < CACHE_CAPACITY) {
                cache.put(word, ids);
            }
        }
        out.addAll(ids);
    }

    private int[] initialSymbols(String word) {
        IntList symbols = new IntList();
        boolean unkPending = false;
        for (int i = 0; i < word.length(); ) {
            int end = i + Character.charCount(word.codePointAt(i));
            String character = word.substring(i, end);
            i = end;
            Integer id = vocab.get(character);
            if (id != null) {
                if (unkPending) {
                    symbols.add(unkId);
                    unkPending = false;
                }
                symbols.add(id);
            } else if (byteFallbackIds != null && addBytes(character, symbols)) {
                // each byte became its own symbol
            } else if (unkId >= 0) {
                if (unkPending && !fuseUnk) {
                    symbols.add(unkId);
                }
                unkPending = true;
            }
        }
        if (unkPending) {
            symbols.add(unkId);
        }
        return symbols.toArray();
    }

    private boolean addBytes(String character, IntList symbols) {
        byte[] bytes = character.getBytes(StandardCharsets.UTF_8);
        for (byte b : bytes) {
            if (byteFallbackIds[b & 0xFF] < 0) {
                return false;
            }
        }
        for (byte b : bytes) {
            symbols.add(byteFallbackIds[b & 0xFF]);
        }
        return true;
    }

    private int[] merge(int[] ids) {
        int n = ids.length;
        int[] prev = new int[n];
        int[] next = new int[n];
        boolean[] absorbed = new boolean[n];
        LongMinHeap candidates = new LongMinHeap(n);
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            if (i + 1 < n) {
                offer(candidates, ids[i], ids[i + 1], i);
            }
        }
        while (!candidates.isEmpty()) {
            long top = candidates.pop();
            int rank = (int) (top >>> 32);
            int pos = (int) top;
            if (absorbed[pos] || next[pos] < 0) {
                continue;
            }
            int right = next[pos];
            // A candidate is stale when its symbols have changed since; HF compares the merged id.
            int currentRank = rankOfPair.rank(ids[pos], ids[right]);
            if (currentRank < 0 || mergedIdOfRank[currentRank] != mergedIdOfRank[rank]) {
                continue;
            }
            ids[pos] = mergedIdOfRank[rank];
            absorbed[right] = true;
            next[pos] = next[right];
            if (next[pos] >= 0) {
                prev[next[pos]] = pos;
            }
            if (prev[pos] >= 0) {
                offer(candidates, ids[prev[pos]], ids[pos], prev[pos]);
            }
            if (next[pos] >= 0) {
                offer(candidates, ids[pos], ids[next[pos]], pos);
            }
        }
        IntList result = new IntList();
        for (int i = n > 0 ? 0 : -1; i >= 0; i = next[i]) {
            result.add(ids[i]);
        }
        return result.toArray();
    }

    private void offer(LongMinHeap candidates, int left, int right, int pos) {
        int rank = rankOfPair.rank(left, right);
        if (rank >= 0) {
            candidates.push(((long) rank << 32) | pos); // lowest rank first, then leftmost
        }
    }

    /** A binary min-heap of longs, so the candidate merges of a long word need no boxing. */
    private static final class LongMinHeap {
        private long[] heap;
        private int size;

        LongMinHeap(int capacity) {
            heap = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long value) {
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, size * 2);
            }
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (heap[parent] <= value) {
                    break;
                }
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = value;
        }

        long pop() {
            long top = heap[0];
            long last = heap[--size];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) {
                    break;
                }
                if (child + 1 < size && heap[child + 1] < heap[child]) {
                    child++;
                }
                if (heap[child] >= last) {
                    break;
                }
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = last;
            return top;
        }
    }
}
