package io.helicase.bench.helix;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.apache.helix.HelixAdmin;
import org.apache.helix.HelixManager;
import org.apache.helix.HelixManagerFactory;
import org.apache.helix.InstanceType;
import org.apache.helix.ConfigAccessor;
import org.apache.helix.controller.HelixControllerMain;
import org.apache.helix.model.ClusterConfig;
import org.apache.helix.model.InstanceConfig;
import org.apache.helix.task.TaskDriver;
import org.apache.helix.task.TaskStateModelFactory;
import org.apache.helix.tools.ClusterSetup;

/**
 * Runs the Helicase benchmark workloads (a)-(d) on Apache Helix's task framework.
 *
 * <p>{@code HelixBench --zk HOST:PORT [options]} sets up its own cluster on that ZooKeeper, starts
 * a controller and N participants as child JVMs (so their CPU and memory can be measured apart),
 * runs the workloads through TaskDriver, prints one JSON document and writes it to --out, then
 * stops the children and drops the cluster. The children run as {@code HelixBench controller
 * ...} and {@code HelixBench participant ...}.
 */
public final class HelixBench {
  private HelixBench() {}

  public static void main(String[] argv) throws Exception {
    String mode = argv.length > 0 && !argv[0].startsWith("--") ? argv[0] : "run";
    Args args = Args.parse(argv, mode.equals("run") ? 0 : 1);
    switch (mode) {
      case "run" -> run(args);
      case "controller" -> controller(args);
      case "participant" -> participant(args);
      default -> throw new IllegalArgumentException("unknown mode " + mode);
    }
  }

  // --- child processes ---------------------------------------------------------------------

  private static void controller(Args args) throws InterruptedException {
    HelixManager manager = HelixControllerMain.startHelixController(
        args.get("zk"), args.get("cluster"), "bench_controller", HelixControllerMain.STANDALONE);
    untilTerminated(manager::disconnect);
  }

  private static void participant(Args args) throws Exception {
    TaskLog log = new TaskLog(Path.of(args.get("task-log")));
    HelixManager manager = HelixManagerFactory.getZKHelixManager(
        args.get("cluster"), args.get("name"), InstanceType.PARTICIPANT, args.get("zk"));
    manager.getStateMachineEngine().registerStateModelFactory(
        "Task", new TaskStateModelFactory(manager, BenchTasks.factories(log)));
    manager.connect();
    untilTerminated(() -> {
      manager.disconnect();
      try {
        log.close();
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    });
  }

  private static void untilTerminated(Runnable cleanup) throws InterruptedException {
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      cleanup.run();
      done.countDown();
    }));
    done.await();
  }

  // --- the run ---------------------------------------------------------------------------------

  private static void run(Args args) throws Exception {
    String zk = args.get("zk");
    String cluster = args.get("cluster", "helicase_bench_" + ProcessHandle.current().pid());
    int participants = args.getInt("participants", 2);
    // Helix's own defaults: ClusterConfig.DEFAULT_MAX_CONCURRENT_TASK_PER_INSTANCE and
    // TaskConstants.DEFAULT_TASK_THREAD_POOL_SIZE are both 40.
    int concurrency = args.getInt("concurrency", 40);
    String tag = args.get("tag", "default");
    Path work = Files.createTempDirectory("helix-bench-");

    ClusterSetup setup = new ClusterSetup(zk);
    HelixAdmin admin = setup.getClusterManagementTool();
    setup.addCluster(cluster, true);
    ConfigAccessor configs = new ConfigAccessor(zk);
    ClusterConfig clusterConfig = configs.getClusterConfig(cluster);
    clusterConfig.setMaxConcurrentTaskPerInstance(concurrency);
    configs.setClusterConfig(cluster, clusterConfig);
    List<String> names = new ArrayList<>();
    List<Path> logs = new ArrayList<>();
    for (int i = 1; i <= participants; i++) {
      String name = "bench_participant_" + i;
      InstanceConfig instance = new InstanceConfig(name);
      instance.setHostName("localhost");
      instance.setPort(String.valueOf(12000 + i));
      instance.setTargetTaskThreadPoolSize(concurrency);
      admin.addInstance(cluster, instance);
      admin.addInstanceTag(cluster, name, tag);
      names.add(name);
      logs.add(work.resolve(name + ".tsv"));
    }

    List<Process> children = new ArrayList<>();
    HelixManager spectator = null;
    try {
      children.add(child("controller", "--zk", zk, "--cluster", cluster));
      for (int i = 0; i < participants; i++) {
        children.add(child("participant", "--zk", zk, "--cluster", cluster, "--name",
            names.get(i), "--task-log", logs.get(i).toString()));
      }
      spectator = HelixManagerFactory.getZKHelixManager(
          cluster, "bench_driver", InstanceType.SPECTATOR, zk);
      spectator.connect();
      Runner runner = new Runner(new TaskDriver(spectator), logs, tag, concurrency,
          args.getInt("timeout", 1800));
      runner.awaitCluster(spectator, participants);
      Map<String, Object> report = report(args, cluster, participants, concurrency, runner);
      ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
      String text = json.writeValueAsString(report);
      if (args.has("out")) {
        Files.writeString(Path.of(args.get("out")), text + "\n");
      }
      System.out.println(text);
    } finally {
      if (spectator != null) {
        spectator.disconnect();
      }
      for (Process process : children) {
        process.destroy();
      }
      for (Process process : children) {
        process.waitFor();
      }
      try {
        admin.dropCluster(cluster);
      } catch (RuntimeException e) {
        System.err.println("could not drop cluster " + cluster + ": " + e);
      }
      admin.close();
      setup.close();
      for (Path log : logs) {
        Files.deleteIfExists(log);
      }
      Files.deleteIfExists(work);
    }
  }

  private static Map<String, Object> report(Args args, String cluster, int participants,
      int concurrency, Runner runner) throws Exception {
    String run = "r" + Long.toString(System.currentTimeMillis(), 36);
    int perJob = args.getInt("tasks-per-job", 1000);
    List<String> chosen = List.of(args.get("workloads", "a,b,c,d").split(","));
    Map<String, Object> workloads = new LinkedHashMap<>();
    runner.run(Plan.sequential(run + "warm", 3)); // warm-up: JIT, connections, caches
    for (String id : chosen) {
      Plan plan = switch (id.trim()) {
        case "a" -> Plan.independentTasks(run, args.getInt("a-workflows", 10),
            args.getInt("a-tasks", 1000), perJob);
        case "b" -> Plan.chains(run, args.getInt("b-workflows", 100), args.getInt("b-length", 10));
        case "c" -> Plan.fanOut(run, args.getInt("c-width", 10000), perJob);
        case "d" -> Plan.sequential(run, args.getInt("d-runs", 200));
        default -> throw new IllegalArgumentException("unknown workload " + id);
      };
      System.err.println("helix: workload (" + plan.id() + ") " + plan.description());
      Map<String, Object> result = runner.run(plan);
      System.err.println("helix: (" + plan.id() + ") " + result);
      workloads.put(plan.id(), result);
    }
    Map<String, Object> report = new LinkedHashMap<>();
    report.put("system", "helix");
    report.put("helix_version", org.apache.helix.HelixManager.class.getPackage()
        .getImplementationVersion());
    report.put("java", System.getProperty("java.version"));
    report.put("cluster", cluster);
    report.put("participants", participants);
    report.put("concurrency", concurrency);
    report.put("tasks_per_job", perJob);
    report.put("workloads", workloads);
    return report;
  }

  private static Process child(String mode, String... options) throws IOException {
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"),
        HelixBench.class.getName(), mode));
    command.addAll(List.of(options));
    return new ProcessBuilder(command).inheritIO().start();
  }

  /** --name value options. */
  record Args(Map<String, String> values) {
    static Args parse(String[] argv, int from) {
      Map<String, String> values = new HashMap<>();
      for (int i = from; i < argv.length; i += 2) {
        if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
          throw new IllegalArgumentException("expected --name value, got " + argv[i]);
        }
        values.put(argv[i].substring(2), argv[i + 1]);
      }
      return new Args(values);
    }

    boolean has(String name) {
      return values.containsKey(name);
    }

    String get(String name) {
      String value = values.get(name);
      if (value == null) {
        throw new IllegalArgumentException("--" + name + " is required");
      }
      return value;
    }

    String get(String name, String fallback) {
      return values.getOrDefault(name, fallback);
    }

    int getInt(String name, int fallback) {
      return values.containsKey(name) ? Integer.parseInt(values.get(name)) : fallback;
    }
  }
}
