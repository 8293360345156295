package io.helicase.bench.helix;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.helix.HelixManager;
import org.apache.helix.PropertyKey;
import org.apache.helix.task.JobConfig;
import org.apache.helix.task.TaskConfig;
import org.apache.helix.task.TaskDriver;
import org.apache.helix.task.TaskState;
import org.apache.helix.task.Workflow;
import org.apache.helix.task.WorkflowConfig;
import org.apache.helix.task.WorkflowContext;

/**
 * Submits a Plan through TaskDriver, waits until every workflow is COMPLETED (polling the
 * workflow contexts in ZooKeeper, as a gateway would), and measures:
 * tasks/s (all tasks / first submit to last COMPLETED seen), dispatch (a task's start on its
 * participant minus the moment its dependencies were done: the end of the last task of its parent
 * jobs, or the workflow's submission for a root job), dependent dispatch (the same, for the tasks
 * of jobs with at least one parent only: the per-hop time, without the submission path of root
 * jobs) and submit-to-COMPLETED per workflow.
 */
final class Runner {
  private static final Set<TaskState> FAILED =
      Set.of(TaskState.FAILED, TaskState.ABORTED, TaskState.TIMED_OUT, TaskState.FAILING);

  private final TaskDriver driver;
  private final List<Path> taskLogs;
  private final String tag;
  private final int concurrency;
  private final int timeoutSeconds;

  Runner(TaskDriver driver, List<Path> taskLogs, String tag, int concurrency, int timeoutSeconds) {
    this.driver = driver;
    this.taskLogs = taskLogs;
    this.tag = tag;
    this.concurrency = concurrency;
    this.timeoutSeconds = timeoutSeconds;
  }

  void awaitCluster(HelixManager manager, int participants) throws InterruptedException {
    PropertyKey.Builder keys = manager.getHelixDataAccessor().keyBuilder();
    long deadline = System.currentTimeMillis() + 60_000;
    while (System.currentTimeMillis() < deadline) {
      int live = manager.getHelixDataAccessor().getChildNames(keys.liveInstances()).size();
      boolean leader = manager.getHelixDataAccessor().getProperty(keys.controllerLeader()) != null;
      if (live >= participants && leader) {
        return;
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException("the Helix controller or participants did not come up");
  }

  Map<String, Object> run(Plan plan) throws Exception {
    Map<String, Long> submitted = new LinkedHashMap<>();
    Map<String, Long> completed = new HashMap<>();
    long deadline = System.currentTimeMillis() + timeoutSeconds * 1000L;
    long start = TaskLog.nowMicros();
    if (plan.sequential()) {
      for (Plan.Flow flow : plan.flows()) {
        submitted.put(flow.name(), TaskLog.nowMicros());
        driver.start(build(flow));
        awaitCompleted(Set.of(flow.name()), completed, deadline, 1);
      }
    } else {
      for (Plan.Flow flow : plan.flows()) {
        submitted.put(flow.name(), TaskLog.nowMicros());
        driver.start(build(flow));
      }
      awaitCompleted(new LinkedHashSet<>(submitted.keySet()), completed, deadline, 10);
    }
    long end = completed.values().stream().mapToLong(Long::longValue).max().orElse(start);
    Map<String, long[]> runs = awaitTaskLog(plan, deadline);

    List<Double> dispatch = new ArrayList<>();
    List<Double> dependent = new ArrayList<>();
    for (Plan.Flow flow : plan.flows()) {
      Map<String, Long> jobEnd = new HashMap<>();
      for (Plan.Job job : flow.jobs()) {
        long ready = submitted.get(flow.name());
        for (String parent : job.parents()) {
          ready = Math.max(ready, jobEnd.get(parent));
        }
        long last = 0;
        for (int t = 0; t < job.tasks(); t++) {
          long[] ran = runs.get(key(flow, job, t));
          double millis = (ran[0] - ready) / 1000.0;
          dispatch.add(millis);
          if (!job.parents().isEmpty()) {
            dependent.add(millis);
          }
          last = Math.max(last, ran[1]);
        }
        jobEnd.put(job.name(), last);
      }
    }
    List<Double> turnaround = new ArrayList<>();
    for (Map.Entry<String, Long> entry : submitted.entrySet()) {
      turnaround.add((completed.get(entry.getKey()) - entry.getValue()) / 1000.0);
    }
    double elapsed = (end - start) / 1e6;
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("description", plan.description());
    result.put("workflows", plan.flows().size());
    result.put("tasks", plan.tasks());
    result.put("elapsed_s", Math.round(elapsed * 1000) / 1000.0);
    result.put("tasks_per_s", Stats.round(plan.tasks() / elapsed));
    result.put("dispatch_ms", Stats.summary(dispatch));
    result.put("dispatch_dependent_ms", Stats.summary(dependent));
    result.put("submit_to_completed_ms", Stats.summary(turnaround));
    return result;
  }

  private static String key(Plan.Flow flow, Plan.Job job, int task) {
    return flow.name() + "_" + job.name() + "/t" + task;
  }

  private Workflow build(Plan.Flow flow) {
    Workflow.Builder builder = new Workflow.Builder(flow.name());
    builder.setWorkflowConfig(new WorkflowConfig.Builder(flow.name())
        .setParallelJobs(flow.jobs().size())
        .setAllowOverlapJobAssignment(true)
        .build());
    for (Plan.Job job : flow.jobs()) {
      List<TaskConfig> tasks = new ArrayList<>(job.tasks());
      for (int t = 0; t < job.tasks(); t++) {
        tasks.add(new TaskConfig.Builder().setTaskId("t" + t).setCommand(BenchTasks.NOOP).build());
      }
      builder.addJob(job.name(), new JobConfig.Builder()
          .setInstanceGroupTag(tag)
          .setNumConcurrentTasksPerInstance(concurrency)
          .setMaxAttemptsPerTask(3)
          .addTaskConfigs(tasks));
      for (String parent : job.parents()) {
        builder.addParentChildDependency(parent, job.name());
      }
    }
    return builder.build();
  }

  private void awaitCompleted(Set<String> pending, Map<String, Long> completed, long deadline,
      long pollMillis) throws InterruptedException {
    Set<String> left = new LinkedHashSet<>(pending);
    while (!left.isEmpty()) {
      for (String name : new ArrayList<>(left)) {
        WorkflowContext context = driver.getWorkflowContext(name);
        TaskState state = context == null ? null : context.getWorkflowState();
        if (state == TaskState.COMPLETED) {
          completed.put(name, TaskLog.nowMicros());
          left.remove(name);
        } else if (state != null && FAILED.contains(state)) {
          throw new IllegalStateException("workflow " + name + " ended " + state);
        }
      }
      if (System.currentTimeMillis() > deadline) {
        throw new IllegalStateException(left.size() + " workflows not COMPLETED in time");
      }
      if (!left.isEmpty()) {
        Thread.sleep(pollMillis);
      }
    }
  }

  /** Waits until the participants' task logs hold every task of `plan` (they flush every 20 ms). */
  private Map<String, long[]> awaitTaskLog(Plan plan, long deadline) throws Exception {
    while (true) {
      Map<String, long[]> runs = TaskLog.read(taskLogs);
      int missing = 0;
      for (Plan.Flow flow : plan.flows()) {
        for (Plan.Job job : flow.jobs()) {
          for (int t = 0; t < job.tasks(); t++) {
            if (!runs.containsKey(key(flow, job, t))) {
              missing++;
            }
          }
        }
      }
      if (missing == 0) {
        return runs;
      }
      if (System.currentTimeMillis() > deadline) {
        throw new IllegalStateException(missing + " tasks missing from the task logs");
      }
      Thread.sleep(50);
    }
  }
}
