package io.helicase.bench.helix;

import java.util.ArrayList;
import java.util.List;

/**
 * The shape of one workload in Helix terms, and the mapping from the Helicase workloads.
 *
 * <p>Helicase's unit is a task with dependencies; Helix's is a job (a set of tasks run without
 * order) with job-to-job dependencies. The mapping: a set of independent tasks is one generic job
 * of up to `tasksPerJob` TaskConfigs (more tasks: several sibling jobs with the same parents); a
 * chain of tasks is a chain of one-task jobs.
 */
record Plan(String id, String description, List<Flow> flows, boolean sequential) {

  /** One Helix workflow. */
  record Flow(String name, List<Job> jobs) {
    int tasks() {
      return jobs.stream().mapToInt(j -> j.tasks).sum();
    }
  }

  /** One Helix job: `tasks` tasks named t0..t(n-1), run after every job in `parents`. */
  record Job(String name, int tasks, List<String> parents) {}

  int tasks() {
    return flows.stream().mapToInt(Flow::tasks).sum();
  }

  static List<Job> independent(String prefix, int tasks, int perJob, List<String> parents) {
    List<Job> jobs = new ArrayList<>();
    for (int i = 0, n = 0; n < tasks; i++, n += perJob) {
      jobs.add(new Job(prefix + i, Math.min(perJob, tasks - n), parents));
    }
    return jobs;
  }

  /** (a) `workflows` workflows of `tasks` independent no-op tasks each. */
  static Plan independentTasks(String run, int workflows, int tasks, int perJob) {
    List<Flow> flows = new ArrayList<>();
    for (int w = 0; w < workflows; w++) {
      flows.add(new Flow(run + "_a" + w, independent("batch", tasks, perJob, List.of())));
    }
    return new Plan("a", workflows + " workflows x " + tasks + " independent noop tasks", flows,
        false);
  }

  /** (b) `workflows` workflows, each a chain of `length` no-op tasks. */
  static Plan chains(String run, int workflows, int length) {
    List<Flow> flows = new ArrayList<>();
    for (int w = 0; w < workflows; w++) {
      List<Job> jobs = new ArrayList<>();
      for (int i = 0; i < length; i++) {
        jobs.add(new Job("step" + i, 1, i == 0 ? List.of() : List.of("step" + (i - 1))));
      }
      flows.add(new Flow(run + "_b" + w, jobs));
    }
    return new Plan("b", workflows + " workflows, each a chain of " + length + " noop tasks",
        flows, false);
  }

  /** (c) one workflow: a source task, `width` no-op tasks after it, a join task after them. */
  static Plan fanOut(String run, int width, int perJob) {
    List<Job> jobs = new ArrayList<>();
    jobs.add(new Job("source", 1, List.of()));
    List<Job> wide = independent("fan", width, perJob, List.of("source"));
    jobs.addAll(wide);
    jobs.add(new Job("join", 1, wide.stream().map(Job::name).toList()));
    return new Plan("c", "1 workflow: 1 -> " + width + " noop tasks -> 1",
        List.of(new Flow(run + "_c0", jobs)), false);
  }

  /** (d) `runs` single-task workflows, each submitted after the previous one completed. */
  static Plan sequential(String run, int runs) {
    List<Flow> flows = new ArrayList<>();
    for (int w = 0; w < runs; w++) {
      flows.add(new Flow(run + "_d" + w, List.of(new Job("only", 1, List.of()))));
    }
    return new Plan("d", runs + " sequential single-task workflows", flows, true);
  }
}
