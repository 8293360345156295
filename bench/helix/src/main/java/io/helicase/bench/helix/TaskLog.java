package io.helicase.bench.helix;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * When each task ran, as seen by the participant that ran it: one line per task,
 * "key\tstart_us\tend_us" (epoch microseconds, the clock every process on this machine shares),
 * appended in whole lines every 20 ms. The driver reads every participant's file.
 */
final class TaskLog implements AutoCloseable {
  private final ConcurrentLinkedQueue<String> pending = new ConcurrentLinkedQueue<>();
  private final FileChannel channel;
  private final ScheduledExecutorService flusher = Executors.newSingleThreadScheduledExecutor();

  TaskLog(Path file) throws IOException {
    channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.APPEND);
    flusher.scheduleWithFixedDelay(this::flush, 20, 20, TimeUnit.MILLISECONDS);
  }

  static long nowMicros() {
    Instant now = Instant.now();
    return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
  }

  void record(String key, long startMicros, long endMicros) {
    pending.add(key + "\t" + startMicros + "\t" + endMicros + "\n");
  }

  synchronized void flush() {
    StringBuilder batch = new StringBuilder();
    for (String line; (line = pending.poll()) != null; ) {
      batch.append(line);
    }
    if (batch.length() == 0) {
      return;
    }
    try {
      ByteBuffer bytes = ByteBuffer.wrap(batch.toString().getBytes(StandardCharsets.UTF_8));
      while (bytes.hasRemaining()) {
        channel.write(bytes);
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot append to the task log", e);
    }
  }

  @Override
  public void close() throws IOException {
    flusher.shutdown();
    flush();
    channel.close();
  }

  /** Reads the complete lines of `files` into key -> {start_us, end_us}. */
  static Map<String, long[]> read(List<Path> files) throws IOException {
    Map<String, long[]> runs = new HashMap<>();
    for (Path file : files) {
      if (!Files.exists(file)) {
        continue;
      }
      String text = Files.readString(file);
      int end = text.lastIndexOf('\n');
      if (end < 0) {
        continue;
      }
      for (String line : text.substring(0, end).split("\n")) {
        String[] f = line.split("\t");
        runs.put(f[0], new long[] {Long.parseLong(f[1]), Long.parseLong(f[2])});
      }
    }
    return runs;
  }
}
