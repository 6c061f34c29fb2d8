# The timing method of benches/compare.sh and benches/static.sh, sourced by both.
#
# hyperfine without a shell (-N), ROUNDS rounds of RUNS runs after WARMUP warm-ups (every
# command once per round, to spread drift evenly); a command's figure is the median of its
# per-round medians, with their range as the spread. Uses the caller's `say` and `fail`.

# Runs each of "${names[@]}" (with "${commands[@]}") for $rounds rounds of $runs runs after
# $warmup warm-ups, into $work/round-N.csv.
measure_rounds() {
    local args=() i round
    for i in "${!names[@]}"; do
        args+=(-n "${names[$i]}" "${commands[$i]}")
    done
    for round in $(seq "$rounds"); do
        say "round $round of $rounds: ${#names[@]} commands x $runs runs"
        hyperfine -N --style none --warmup "$warmup" --runs "$runs" \
            --export-csv "$work/round-$round.csv" "${args[@]}" >"$work/hyperfine-$round.log" 2>&1 ||
            fail "hyperfine failed: $(tail -n 5 "$work/hyperfine-$round.log")"
    done
}

# Fills the global maps median and spread: name -> the median of the per-round medians,
# and their range (lowest-highest, with DECIMALS decimals), in milliseconds.
collect_medians() {
    local decimals=$1 name
    declare -gA median spread
    for name in "${names[@]}"; do
        read -r "median[$name]" "spread[$name]" < <(
            awk -F, -v name="$name" 'FNR > 1 && $1 == name { print $4 * 1000 }' "$work"/round-*.csv |
                sort -g | awk -v d="$decimals" '{ v[NR] = $1 } END {
                    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                    printf "%s %.*f-%.*f\n", m, d, v[1], d, v[NR] }'
        )
    done
}
