package dev.retort.models.tokenizer;

import java.util.Arrays;

/**
 * Maps a pair of token ids to the rank of the BPE merge that joins them: an open-addressing table of
 * primitive longs, because BPE looks pairs up millions of times and Llama 3 has 280,000 merges.
 */
final class PairRankMap {

    private static final long EMPTY = -1L; // ids are never negative, so no real key is all ones

    private final long[] keys;
    private final int[] ranks;
    private final int mask;

    PairRankMap(int expectedSize) {
        int capacity = Integer.highestOneBit(Math.max(4, expectedSize) * 2 - 1) << 1;
        keys = new long[capacity];
        ranks = new int[capacity];
        mask = capacity - 1;
        Arrays.fill(keys, EMPTY);
    }

    private static long key(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 29)) & mask;
    }

    /** Records the merge of a pair; a later line of the merges list replaces an earlier one, as in HF. */
    void put(int left, int right, int rank) {
        long key = key(left, right);
        for (int i = slot(key); ; i = (i + 1) & mask) {
            if (keys[i] == key || keys[i] == EMPTY) {
                keys[i] = key;
                ranks[i] = rank;
                return;
            }
        }
    }

    /** The rank of the merge of this pair, or -1 when the pair never merges. */
    int rank(int left, int right) {
        long key = key(left, right);
        for (int i = slot(key); ; i = (i + 1) & mask) {
            if (keys[i] == key) {
                return ranks[i];
            }
            if (keys[i] == EMPTY) {
                return -1;
            }
        }
    }
}
