// Decode speed of llama.cpp (the prebuilt CPU binding of the npm package node-llama-cpp, pinned 3.21.1) on a GGUF
// file: greedy tokens after a one-token prompt, the median time per token over TOKENS tokens after a warm-up pass,
// to set beside `retort bench decode --model FILE.gguf --threads T` on the same file.
//   cd /tmp/llama && npm init -y && npm install node-llama-cpp@3.21.1
//   NODE_PATH=/tmp/llama/node_modules node tools/gguf/llama_cpp_decode_bench.mjs FILE.gguf THREADS [TOKENS]
// Last line: "N tokens/s".
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH ?? "/tmp/llama/node_modules", "x.js"));
const { getLlama, LlamaLogLevel } = await import(require.resolve("node-llama-cpp"));

const [file, threadsArg, countArg = "63"] = process.argv.slice(2);
if (!file || !threadsArg) {
    console.error("usage: node llama_cpp_decode_bench.mjs FILE.gguf THREADS [TOKENS]");
    process.exit(2);
}
const threads = Number(threadsArg), count = Number(countArg);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: file });
const context = await model.createContext({ contextSize: count + 8, threads, batchSize: 1 });
const start = [model.tokens.bos ?? 1];
let median = 0;
for (let pass = 0; pass < 2; pass++) {   // the first pass warms up
    const sequence = context.getSequence();
    const times = [];
    let last = process.hrtime.bigint();
    for await (const id of sequence.evaluate(start, { temperature: 0 })) {
        const now = process.hrtime.bigint();
        times.push(Number(now - last) / 1e9);
        last = now;
        if (times.length > count) break;
    }
    times.shift();   // the first includes the prompt
    times.sort((a, b) => a - b);
    median = times[Math.floor(times.length / 2)];
    sequence.dispose();
}
console.log(`llama.cpp decode ${file}: ${threads} threads: ${(median * 1e3).toFixed(2)} ms/token`);
console.log(`${(1 / median).toFixed(1)} tokens/s`);
await context.dispose();
await model.dispose();
