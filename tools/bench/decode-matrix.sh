#!/usr/bin/env bash
# Decode speed, every model x thread count x engine, in rounds that alternate the engines, one line per run:
#   round  model  dtype  threads  engine  tokens/s  load(1 min, before the run)
# Builds nothing: give it built jars and model files. Engines:
#   retort:LABEL          `retort bench decode --model M --threads T` of the jar in DIR (weights read from the mapping)
#   retort:LABEL:no-mmap  the same with --no-mmap (weights copied into memory first)
#   llama.cpp             tools/gguf/llama_cpp_decode_bench.mjs (node-llama-cpp 3.21.1), GGUF models only
# Usage:
#   tools/bench/decode-matrix.sh --jar DIR [--jar DIR2 ...] [--threads "1 2"] [--rounds 2] [--tokens 63]
#       [--engines "mapped no-mmap llama.cpp"] MODEL...
# DIR holds retort.jar and lib/ (copy distill/target/retort.jar and distill/target/lib there after
# ./mvnw -B -o -q package -DskipTests -Dmaven.javadoc.skip=true -pl distill -am); LABEL is DIR's base name.
# MODEL is a Hugging Face model directory or a GGUF file. llama.cpp needs NODE_PATH (default /tmp/llama/node_modules).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
java_home="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
jars=() threads="1 2" rounds=2 tokens=63 engines="mapped no-mmap llama.cpp" models=()
usage() { echo "usage: $0 --jar DIR [--jar DIR ...] [--threads \"1 2\"] [--rounds N] [--tokens N] [--engines \"mapped no-mmap llama.cpp\"] MODEL..." >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --jar) jars+=("${2:?--jar needs a directory}"); shift 2 ;;
        --threads) threads="${2:?}"; shift 2 ;;
        --rounds) rounds="${2:?}"; shift 2 ;;
        --tokens) tokens="${2:?}"; shift 2 ;;
        --engines) engines="${2:?}"; shift 2 ;;
        -h|--help) usage ;;
        -*) echo "$0: unknown option $1" >&2; usage ;;
        *) models+=("$1"); shift ;;
    esac
done
[ ${#models[@]} -gt 0 ] || usage
for dir in "${jars[@]}"; do
    [ -f "$dir/retort.jar" ] && [ -d "$dir/lib" ] || { echo "$0: --jar $dir: expected retort.jar and lib/ in it" >&2; exit 2; }
done
for m in "${models[@]}"; do [ -e "$m" ] || { echo "$0: model $m: not found" >&2; exit 2; }; done
export NODE_PATH="${NODE_PATH:-/tmp/llama/node_modules}"

load() { cut -d' ' -f1 /proc/loadavg; }
declare -A dtype   # model -> weight type, as the last retort run printed it
retort() {   # jar-dir model threads [--no-mmap] -> prints "weight-type tokens/s"
    local out
    out="$("$java_home/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx3g \
        -cp "$1/retort.jar:$1/lib/*" dev.retort.cli.Retort bench decode --model "$2" --threads "$3" --tokens "$tokens" ${4:-} 2>/dev/null)" \
        || { echo "? failed"; return 0; }
    echo "$(sed -n 's/.*, weights \([A-Z0-9_]*\).*/\1/p' <<<"$out" | head -1) $(tail -1 <<<"$out" | cut -d' ' -f1)"
}
llama() {   # model threads -> prints tokens/s
    node "$here/../gguf/llama_cpp_decode_bench.mjs" "$1" "$2" "$tokens" 2>/dev/null | tail -1 | cut -d' ' -f1
}
line() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@"; }

line round model dtype threads engine tokens/s load
for round in $(seq 1 "$rounds"); do
    for t in $threads; do
        for m in "${models[@]}"; do
            name="$(basename "$m")"
            for engine in $engines; do
                case "$engine" in
                    mapped|no-mmap)
                        for dir in "${jars[@]}"; do
                            flag=""; label="retort:$(basename "$dir")"
                            [ "$engine" = no-mmap ] && flag="--no-mmap" && label="$label:no-mmap"
                            before="$(load)"
                            read -r type speed <<<"$(retort "$dir" "$m" "$t" $flag)"
                            [ "$type" = "?" ] || dtype[$m]="$type"
                            line "$round" "$name" "$type" "$t" "$label" "$speed" "$before"
                        done ;;
                    llama.cpp)
                        case "$m" in *.gguf) ;; *) continue ;; esac
                        before="$(load)"
                        line "$round" "$name" "${dtype[$m]:-?}" "$t" llama.cpp "$(llama "$m" "$t" || echo failed)" "$before" ;;
                    *) echo "$0: unknown engine $engine (mapped, no-mmap, llama.cpp)" >&2; exit 2 ;;
                esac
            done
        done
    done
done
