// Loads a GGUF file with llama.cpp (the prebuilt binding of the npm package node-llama-cpp, pinned 3.21.1) and
// generates greedily, to compare by hand with `retort generate ... --temperature 0`.
//   cd /tmp/llama && npm init -y && npm install node-llama-cpp@3.21.1
//   NODE_PATH=/tmp/llama/node_modules node tools/gguf/llama_cpp_generate.mjs FILE.gguf "Once upon a time" 30
// Prints the prompt's token ids as llama.cpp tokenizes them, the generated ids and the text.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH ?? "/tmp/llama/node_modules", "x.js"));
const { getLlama, LlamaLogLevel } = await import(require.resolve("node-llama-cpp"));

const [file, prompt = "Once upon a time", count = "30"] = process.argv.slice(2);
if (!file) {
    console.error("usage: node llama_cpp_generate.mjs FILE.gguf [PROMPT] [TOKENS]");
    process.exit(2);
}
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: file });
const context = await model.createContext({ contextSize: 256, threads: 1 });
const sequence = context.getSequence();
// tokenize() adds no BOS; prepend it when the file's tokenizer.ggml.add_bos_token asks, as llama.cpp's own tools do
const bos = model.tokens.shouldPrependBosToken && model.tokens.bos != null ? [model.tokens.bos] : [];
const promptIds = [...bos, ...model.tokenize(prompt)];
const ids = [];
for await (const id of sequence.evaluate(promptIds, { temperature: 0 })) {
    ids.push(id);
    if (ids.length >= Number(count) || model.isEogToken?.(id)) break;
}
console.log("prompt ids:", JSON.stringify(promptIds));
console.log("generated ids:", JSON.stringify(ids));
console.log("text:", JSON.stringify(prompt + model.detokenize(ids)));
await context.dispose();
await model.dispose();
