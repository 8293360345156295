package io.helicase.bench.helix;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Percentiles as bench/helicase_runner.py computes them (nearest rank, rounded index). */
final class Stats {
  private Stats() {}

  static double percentile(List<Double> values, double q) {
    List<Double> ordered = new ArrayList<>(values);
    Collections.sort(ordered);
    int index = (int) Math.round(q / 100 * (ordered.size() - 1));
    return ordered.get(Math.min(ordered.size() - 1, Math.max(0, index)));
  }

  static Map<String, Object> summary(List<Double> millis) {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("n", millis.size());
    if (millis.isEmpty()) {
      out.put("p50", null);
      out.put("p99", null);
      return out;
    }
    out.put("p50", round(percentile(millis, 50)));
    out.put("p99", round(percentile(millis, 99)));
    return out;
  }

  static double round(double value) {
    return Math.round(value * 10) / 10.0;
  }
}
