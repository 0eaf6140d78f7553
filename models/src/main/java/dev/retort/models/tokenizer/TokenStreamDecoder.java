package dev.retort.models.tokenizer;

/**
 * Decodes a stream of generated ids. A byte-fallback or byte-level token may carry part of a UTF-8
 * character, so each call returns only the text that is final; the concatenation of every {@link #next}
 * and the {@link #finish} result equals {@link Tokenizer#decode} of all the ids. Not thread-safe.
 */
public final class TokenStreamDecoder {

    private final DecodingState state;
    private final StringBuilder chunk = new StringBuilder();
    private boolean finished;

    TokenStreamDecoder(DecodingState state) {
        this.state = state;
    }

    /**
     * Takes the next id and returns the text it completes, possibly empty.
     *
     * @throws IllegalArgumentException for an id outside the vocabulary
     */
    public String next(int id) {
        if (finished) {
            throw new IllegalStateException("this stream is finished; start a new one with streamDecoder()");
        }
        chunk.setLength(0);
        state.push(id, chunk);
        return chunk.toString();
    }

    /** Ends the stream and returns what was held back (bytes of an unfinished character become U+FFFD). */
    public String finish() {
        if (finished) {
            return "";
        }
        finished = true;
        chunk.setLength(0);
        state.finish(chunk);
        return chunk.toString();
    }
}
