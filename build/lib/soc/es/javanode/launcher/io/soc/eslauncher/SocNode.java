package io.soc.eslauncher;

import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.PluginsLoader;

/**
 * Starts one real Elasticsearch node in this JVM: the server from Maven Central on the
 * module path, its modules (HTTP over Netty, the root endpoint) loaded like the official
 * distribution loads them. Unlike the official launcher it does not refuse to run as root,
 * which CI machines are; it binds to 127.0.0.1 only.
 *
 * Usage: SocNode HOME MODULES_DIR HTTP_PORT
 */
public final class SocNode {
    private SocNode() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: SocNode HOME MODULES_DIR HTTP_PORT");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Path modules = Path.of(args[1]).toAbsolutePath();
        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "soc-local")
            .put("node.name", "soc-local-1")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", args[2])
            .put("transport.port", "9300-9399")
            // a nearly full disk must not turn the demo's indices read-only
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.destructive_requires_name", false)
            .build();
        LogConfigurator.configureWithoutConfig(settings);
        Environment environment = new Environment(settings, home.resolve("config"));
        PluginsLoader plugins = PluginsLoader.createPluginsLoader(
            PluginsLoader.loadModulesBundles(modules), Set.of(), Map.of());
        Node node = new Node(environment, plugins);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, java.util.concurrent.TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "soc-node-shutdown"));
        node.start();
        System.out.println("soc-local node started on 127.0.0.1:" + args[2]);
        stopped.await();  // node threads are daemons: keep the JVM alive until shutdown
    }
}
