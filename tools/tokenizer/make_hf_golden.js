#!/usr/bin/env node
// Writes the Hugging Face tokenizers golden vectors the Java tests compare against.
//
// Uses HF's own Rust tokenizers through its Node binding (npm package "tokenizers", which ships the
// native library). From the project root:
//   (cd /tmp/hftok && npm install tokenizers@0.23.2)
//   NODE_PATH=/tmp/hftok/node_modules node tools/tokenizer/make_hf_golden.js ../shared/assets \
//       models/src/test/resources/tokenizer/huggingface-golden.json
//
// For each tokenizer.json below (the shared files as they are, and variants that swap in other
// pre-tokenizers that Llama-family files use), and each string of golden_inputs.json, it records the ids
// (no BOS/EOS; special-token text recognised, and with special-token text encoded as plain text), and the
// decoded text of those ids with and without special tokens; and for each id sequence of decode_cases.json,
// both decodings. The variants are described in VARIANTS; the Java test builds the same ones.
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const VARIANTS = {
  'llama2-tokenizer': { file: 'llama2-tokenizer/tokenizer.json', edit: (j) => j },
  'stories260K': { file: 'stories260K/tokenizer.json', edit: (j) => j },
  'llama3-tokenizer': { file: 'llama3-tokenizer/tokenizer.json', edit: (j) => j },
  // Newer SentencePiece conversions (Mistral, legacy=false): no normalizer, a Metaspace pre-tokenizer.
  'llama2-metaspace-first': {
    file: 'llama2-tokenizer/tokenizer.json',
    edit: (j) => { j.normalizer = null; j.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false }; return j; },
  },
  'llama2-metaspace-always-split': {
    file: 'llama2-tokenizer/tokenizer.json',
    edit: (j) => { j.normalizer = null; j.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true }; return j; },
  },
  // Added tokens with the flags HF honours: lstrip/rstrip, single_word, and one matched after normalization.
  'llama2-added-token-flags': {
    file: 'llama2-tokenizer/tokenizer.json',
    edit: (j) => {
      j.added_tokens.push(
        { id: 32000, content: '<tool>', single_word: false, lstrip: true, rstrip: true, normalized: false, special: false },
        { id: 32001, content: 'cat', single_word: true, lstrip: false, rstrip: false, normalized: false, special: false },
        { id: 32002, content: 'hello world', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false });
      return j;
    },
  },
  // SmolLM-style byte-level pre-tokenization: single digits, then ByteLevel with the GPT-2 regex.
  'llama3-digits-gpt2': {
    file: 'llama3-tokenizer/tokenizer.json',
    edit: (j) => { j.pre_tokenizer = { type: 'Sequence', pretokenizers: [ { type: 'Digits', individual_digits: true }, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true } ] }; return j; },
  },
};

function byteLevelChar(b) {
  const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  if (printable) return String.fromCharCode(b);
  let n = 0;
  for (let x = 0; x < b; x++) {
    const p = (x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || (x >= 0xae && x <= 0xff);
    if (!p) n++;
  }
  return String.fromCharCode(0x100 + n);
}

async function expand(tok, json, items) {
  const byteLevel = JSON.stringify(json.decoder).includes('ByteLevel');
  const bos = byteLevel ? '<|begin_of_text|>' : '<s>';
  const eos = byteLevel ? '<|end_of_text|>' : '</s>';
  const ids = [];
  for (const item of items) {
    if (item === 'bos') ids.push(tok.tokenToId(bos));
    else if (item === 'eos') ids.push(tok.tokenToId(eos));
    else if (item === 'unk') { if (byteLevel) return null; ids.push(tok.tokenToId('<unk>')); }
    else if (item.startsWith('piece:')) {
      let piece = item.slice('piece:'.length);
      if (byteLevel) {
        const m = /^<0x([0-9A-F]{2})>$/.exec(piece);
        piece = m ? byteLevelChar(parseInt(m[1], 16)) : piece.replace(/\u2581/g, byteLevelChar(0x20));
      }
      const id = tok.tokenToId(piece);
      if (id === null || id === undefined) throw new Error('no token ' + piece);
      ids.push(id);
    } else if (item.startsWith('text:')) {
      ids.push(...(await tok.encode(item.slice('text:'.length), undefined, { addSpecialTokens: false })).getIds());
    } else throw new Error(item);
  }
  return ids;
}

async function main(assets, output) {
  const inputs = JSON.parse(fs.readFileSync(path.join(__dirname, 'golden_inputs.json'), 'utf8'));
  const decodeCases = JSON.parse(fs.readFileSync(path.join(__dirname, 'decode_cases.json'), 'utf8'));
  const golden = { generator: 'tokenizers (npm) ' + require('tokenizers/package.json').version, variants: {} };
  for (const [name, variant] of Object.entries(VARIANTS)) {
    const json = variant.edit(JSON.parse(fs.readFileSync(path.join(assets, variant.file), 'utf8')));
    const tok = Tokenizer.fromString(JSON.stringify(json));
    const plainJson = JSON.parse(JSON.stringify(json));
    plainJson.added_tokens = plainJson.added_tokens.filter((t) => !t.special);
    const plain = Tokenizer.fromString(JSON.stringify(plainJson));
    const encode = [];
    for (const text of inputs) {
      const ids = (await tok.encode(text, undefined, { addSpecialTokens: false })).getIds();
      const plainIds = (await plain.encode(text, undefined, { addSpecialTokens: false })).getIds();
      encode.push({ text, ids, plainIds, decoded: await tok.decode(ids, true), decodedWithSpecial: await tok.decode(ids, false) });
    }
    const decode = [];
    for (const items of decodeCases) {
      const ids = await expand(tok, json, items);
      if (ids === null) continue;
      decode.push({ ids, text: await tok.decode(ids, true), textWithSpecial: await tok.decode(ids, false) });
    }
    golden.variants[name] = { encode, decode };
  }
  fs.writeFileSync(output, JSON.stringify(golden).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')) + '\n');
}

main(process.argv[2], process.argv[3]);
