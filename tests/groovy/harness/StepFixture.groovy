import groovy.json.JsonOutput

/**
 * A harness for one test: a fresh temporary workspace, the fake `mlci` (tests/groovy/fake-bin) first on
 * PATH recording every call, and a plan saying how it answers. `realMlci()` puts the real CLI
 * (this checkout's mlci, run by its test venv's Python) on PATH instead.
 */
class StepFixture {
    static final File ROOT = new File(System.getenv('MLCI_REPO_ROOT') ?: '.').canonicalFile
    static final File FAKE_BIN = new File(ROOT, 'tests/groovy/fake-bin')

    final File dir
    final PipelineHarness h
    final Map plan = [:]

    StepFixture() {
        dir = File.createTempDir('mlci-groovy-', '')
        h = new PipelineHarness(ROOT, new File(dir, 'workspace'))
        h.globalEnv.PATH = "${FAKE_BIN.path}:${System.getenv('PATH')}".toString()
        h.globalEnv.FAKE_MLCI_LOG = new File(dir, 'mlci-calls').path
        h.globalEnv.FAKE_MLCI_PLAN = new File(dir, 'mlci-plan').path
    }

    /** How the fake mlci answers COMMAND ("train", "image push", "*"): rc, stdout (JSON), stderr, files. */
    StepFixture answer(String command, Map answer) {
        plan[command] = answer
        File to = new File(h.globalEnv.FAKE_MLCI_PLAN, command)
        to.deleteDir()
        writeAnswer(to, answer)
        return this
    }

    /** How the fake mlci answers the calls of COMMAND in turn (the last answer repeats). */
    StepFixture answers(String command, List<Map> answers) {
        plan[command] = answers
        File to = new File(h.globalEnv.FAKE_MLCI_PLAN, command)
        to.deleteDir()
        answers.eachWithIndex { Map answer, int i -> writeAnswer(new File(to, "${i + 1}"), answer) }
        return this
    }

    private static void writeAnswer(File to, Map answer) {
        to.mkdirs()
        new File(to, 'rc').text = "${answer.rc ?: 0}\n"
        Object stdout = answer.containsKey('stdout') ? answer.stdout : [failures: []]
        new File(to, 'stdout').setText(stdout instanceof String ? stdout : JsonOutput.toJson(stdout), 'UTF-8')
        if (answer.stderr) {
            new File(to, 'stderr').setText(answer.stderr + '\n', 'UTF-8')
        }
        (answer.files ?: [:]).each { String path, String text ->
            File target = new File(to, "files/${path}")
            target.parentFile.mkdirs()
            target.setText(text, 'UTF-8')
        }
    }

    /**
     * The Python that has mlci's dependencies: the checkout's test venv (`make install-test` makes .venv),
     * never a bare `python3` from PATH, which on a fresh machine has no third-party packages.
     */
    static String projectPython() {
        File venv = new File(ROOT, '.venv/bin/python')
        org.junit.Assume.assumeTrue('needs the test venv (.venv, made by `make install-test`)'.toString(), venv.canExecute())
        return venv.path
    }

    /** The real CLI of this checkout first on PATH, as `mlci` (run by the checkout's test venv). */
    StepFixture realMlci() {
        File bin = new File(dir, 'real-bin')
        bin.mkdirs()
        File mlci = new File(bin, 'mlci')
        mlci.text = "#!/bin/sh\nPYTHONPATH='${ROOT.path}/python' exec '${projectPython()}' -m mlci \"\$@\"\n"
        mlci.setExecutable(true)
        h.globalEnv.PATH = "${bin.path}:${System.getenv('PATH')}".toString()
        return this
    }

    List<Map> mlciCalls() { h.mlciCalls() }

    /** The argv of the only mlci call (fails when there were none or several). */
    List<String> onlyArgv() {
        List calls = mlciCalls()
        assert calls.size() == 1: "expected one mlci call, got ${calls.collect { it.argv }}"
        return calls[0].argv
    }

    /** Deletes the fixture's directory; a symbolic link is removed, never followed (Groovy's deleteDir follows them). */
    void cleanup() { deleteTree(dir) }

    static void deleteTree(File top) {
        if (!top.exists()) {
            return
        }
        java.nio.file.Files.walkFileTree(top.toPath(), new java.nio.file.SimpleFileVisitor<java.nio.file.Path>() {
            @Override
            java.nio.file.FileVisitResult visitFile(java.nio.file.Path file, java.nio.file.attribute.BasicFileAttributes attrs) {
                java.nio.file.Files.delete(file)
                return java.nio.file.FileVisitResult.CONTINUE
            }

            @Override
            java.nio.file.FileVisitResult postVisitDirectory(java.nio.file.Path d, IOException e) {
                java.nio.file.Files.delete(d)
                return java.nio.file.FileVisitResult.CONTINUE
            }
        })
    }
}
