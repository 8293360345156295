package io.helicase.bench.helix;

import java.util.Map;
import org.apache.helix.task.Task;
import org.apache.helix.task.TaskCallbackContext;
import org.apache.helix.task.TaskFactory;
import org.apache.helix.task.TaskResult;

/** The task types of the benchmark: "noop" returns at once, "sleep" waits `seconds`. */
final class BenchTasks {
  static final String NOOP = "noop";
  static final String SLEEP = "sleep";

  private BenchTasks() {}

  static Map<String, TaskFactory> factories(TaskLog log) {
    return Map.of(
        NOOP, context -> new Timed(log, key(context), 0),
        SLEEP, context -> new Timed(log, key(context), sleepMillis(context)));
  }

  /** "<namespaced job>/<task id>": what the driver expects to find in the task log. */
  static String key(TaskCallbackContext context) {
    return context.getJobConfig().getJobId() + "/" + context.getTaskConfig().getId();
  }

  private static long sleepMillis(TaskCallbackContext context) {
    String seconds = context.getTaskConfig().getConfigMap().getOrDefault("seconds", "0");
    return Math.round(Double.parseDouble(seconds) * 1000);
  }

  /** Runs (sleeps `millis`), then records when it started and ended. */
  private static final class Timed implements Task {
    private final TaskLog log;
    private final String key;
    private final long millis;
    private volatile boolean cancelled;

    Timed(TaskLog log, String key, long millis) {
      this.log = log;
      this.key = key;
      this.millis = millis;
    }

    @Override
    public TaskResult run() {
      long start = TaskLog.nowMicros();
      try {
        if (millis > 0 && !cancelled) {
          Thread.sleep(millis);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return new TaskResult(TaskResult.Status.CANCELED, "interrupted");
      }
      log.record(key, start, TaskLog.nowMicros());
      return new TaskResult(TaskResult.Status.COMPLETED, "");
    }

    @Override
    public void cancel() {
      cancelled = true;
    }
  }
}
