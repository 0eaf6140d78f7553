package dev.retort.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.autograd.Module;
import dev.retort.models.Llm;
import dev.retort.models.Sampling;
import dev.retort.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's "Use it from Java" program, exactly as written there: extracted, compiled against the project's
 * classes and run on stories260K, so the README cannot drift from the API.
 */
class ReadmeExampleTest {
    private static final Path README = Path.of(System.getProperty("retort.root", "..")).resolve("README.md");
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");
    private static final String SECTION = "## Use it from Java";

    /** The first ```java block after the section heading. */
    static String javaBlock(String readme) {
        int section = readme.indexOf(SECTION);
        assertTrue(section >= 0, "README.md has no '" + SECTION + "' section");
        Matcher m = Pattern.compile("```java\\n(.*?)\\n```", Pattern.DOTALL).matcher(readme);
        assertTrue(m.find(section), "no ```java block after '" + SECTION + "'");
        return m.group(1) + "\n";
    }

    @Test
    void theReadmeProgramCompilesAndRuns(@TempDir Path tmp) throws Exception {
        Assumptions.assumeTrue(Files.isRegularFile(README), "README.md not found at " + README.toAbsolutePath() + ": skipped");
        String source = javaBlock(Files.readString(README, StandardCharsets.UTF_8));
        Matcher name = Pattern.compile("public\\s+(?:final\\s+)?class\\s+(\\w+)").matcher(source);
        assertTrue(name.find(), "the README program declares a public class:\n" + source);
        String className = name.group(1);

        Path sources = Files.createDirectories(tmp.resolve("src")), classes = Files.createDirectories(tmp.resolve("classes"));
        Path file = Files.writeString(sources.resolve(className + ".java"), source);
        compile(file, classes);

        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + " (a user's clone has no ../shared): compiled, not run");
        String out = runMain(classes, className, STORIES.toString());
        List<String> lines = out.strip().lines().toList();
        assertEquals(2, lines.size(), "a story line and a loss line:\n" + out);
        try (Llm llm = Llm.open(STORIES)) {
            assertEquals("Once upon a time" + llm.generate("Once upon a time", Sampling.greedy(40)), lines.get(0));
        }
        Matcher loss = Pattern.compile("cross-entropy (\\d+[.,]\\d{3}) nats/token, perplexity (\\d+[.,]\\d{2})").matcher(lines.get(1));
        assertTrue(loss.matches(), "loss line: " + lines.get(1));
        double ce = Double.parseDouble(loss.group(1).replace(',', '.')), ppl = Double.parseDouble(loss.group(2).replace(',', '.'));
        assertTrue(ce > 0 && ce < 3, "a trained model knows its genre: ce=" + ce);
        assertEquals(Math.exp(ce), ppl, 0.01 + 0.001 * ppl, "perplexity = exp(cross-entropy)");
    }

    /** javac on the README program, against this test's class path and the jars or folders of the modules it uses. */
    private static void compile(Path file, Path classes) throws Exception {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertNotNull(javac, "no system Java compiler: run the tests on a JDK");
        Set<String> classPath = new LinkedHashSet<>(List.of(System.getProperty("java.class.path").split(File.pathSeparator)));
        for (Class<?> c : List.of(Llm.class, Module.class, Tensor.class, ObjectMapper.class)) {
            classPath.add(Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString());
        }
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
            List<String> options = new ArrayList<>(List.of("-d", classes.toString(), "-classpath", String.join(File.pathSeparator, classPath),
                    "-proc:none"));
            boolean ok = javac.getTask(null, files, diagnostics, options, null, files.getJavaFileObjects(file)).call();
            assertTrue(ok, "the README program does not compile:\n" + diagnostics.getDiagnostics());
        }
    }

    /** Runs {@code className.main(args)} from {@code classes} in this JVM; returns what it printed. */
    private static String runMain(Path classes, String className, String... args) throws Exception {
        PrintStream original = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try (URLClassLoader loader = new URLClassLoader(new URL[] {classes.toUri().toURL()}, ReadmeExampleTest.class.getClassLoader())) {
            Method main = loader.loadClass(className).getMethod("main", String[].class);
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            main.invoke(null, (Object) args);
        } finally {
            System.setOut(original);
        }
        return captured.toString(StandardCharsets.UTF_8);
    }
}
