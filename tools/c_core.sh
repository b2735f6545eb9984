# Sourced by tools/pedantic.sh, cross_windows.sh, cross_aarch64.sh and exhaustive_sigmoid.sh: the C core's sources
# (csrc/ but the binding), and the two steps each of them takes with its own compiler, flags and runner. tests/c/run.sh
# takes the source list (it compiles them its own way, several builds at once).
#
#   compile_core OUT_DIR COMPILER_COMMAND...   compiles each of KERNELS with the command (compiler and flags) into
#                                              OUT_DIR; their object files in the array `objs`
#   run_c_test COMMAND...                      runs a C test program (with its runner: wine, qemu-aarch64), prints
#                                              all but its "ok" lines, and sets status=1 unless it ends
#                                              "N passed, 0 failed"

KERNELS=(csrc/activations.c csrc/dense.c csrc/kernels.c csrc/lecture.c csrc/net.c csrc/optim.c csrc/parallel.c)

compile_core() {
    local out_dir="$1" k obj
    shift
    echo "==> $*: the kernels"
    objs=()
    for k in "${KERNELS[@]}"; do
        obj="$out_dir/$(basename "$k" .c).o"
        "$@" -c "$k" -o "$obj" || status=1
        objs+=("$obj")
    done
}

run_c_test() {
    local out
    out="$("$@" 2>&1 | tr -d '\r')" || status=1 # (Windows ends its lines with CR LF)
    printf '%s\n' "$out" | grep -v '^ok ' | grep -v '^wine: '
    printf '%s\n' "$out" | grep -qE '^[0-9]+ passed, 0 failed$' || status=1
}
