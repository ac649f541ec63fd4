import groovy.json.JsonSlurperClassic

/**
 * The real services of the test environment for end-to-end pipeline tests: an S3 endpoint (moto's
 * server over HTTP), a container registry that requires a login (docker-registry with htpasswd), and
 * the Docker daemon with the offline base image (tests/setup.sh starts the daemon and builds the image).
 * `missing()` says what is not there, so a test can skip with the reason instead of failing obscurely.
 */
class E2eServices {
    static final String BASE_IMAGE = System.getenv('MLCI_TEST_BASE_IMAGE') ?: 'mlci-test/python:3.11-slim'
    static final String REGISTRY_USER = 'ci-bot'

    final File dir = File.createTempDir('mlci-e2e-', '')
    final String registryPassword = "registry-SENTINEL-${UUID.randomUUID()}"
    String s3Url
    String registryHost
    private final List<Process> processes = []
    private final List servers = []

    /** The Python of the test venv (.venv, made by `make test`) when there is one, else python3. */
    static String python() {
        File venv = new File(StepFixture.ROOT, '.venv/bin/python')
        return venv.canExecute() ? venv.path : 'python3'
    }

    /** The directory holding the installed `mlci` (and the venv's python3), for an agent's PATH. */
    static File binDir() { new File(StepFixture.ROOT, '.venv/bin') }

    /** What this environment lacks for the end-to-end tests (empty when everything is there). */
    static List<String> missing() {
        List<String> lacking = []
        if (!new File(binDir(), 'mlci').canExecute()) {
            lacking.add('the installed mlci CLI (.venv/bin/mlci: run `make install-test`)')
        }
        if (run(['docker', 'image', 'inspect', BASE_IMAGE]) != 0) {
            lacking.add("the Docker daemon with ${BASE_IMAGE} (tests/setup.sh)")
        }
        ['docker-registry', 'htpasswd'].each { if (run(['sh', '-c', "command -v ${it}"]) != 0) { lacking.add(it) } }
        if (run([python(), '-c', 'import moto.server']) != 0) {
            lacking.add('moto (pip install -e "python[test]")')
        }
        return lacking
    }

    private static int run(List command) {
        try {
            Process p = new ProcessBuilder(command.collect { it.toString() }).redirectErrorStream(true).start()
            p.inputStream.text
            return p.waitFor()
        } catch (IOException ignored) {
            return 127
        }
    }

    static int freePort() {
        ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName('127.0.0.1'))
        try {
            return socket.localPort
        } finally {
            socket.close()
        }
    }

    E2eServices start() {
        int s3Port = freePort()
        spawn('moto', [python(), '-m', 'moto.server', '-H', '127.0.0.1', '-p', s3Port.toString()])
        s3Url = "http://127.0.0.1:${s3Port}"
        int registryPort = freePort()
        File htpasswd = new File(dir, 'htpasswd')
        assert run(['htpasswd', '-Bbc', htpasswd.path, REGISTRY_USER, registryPassword]) == 0
        File config = new File(dir, 'registry.yml')
        config.text = """version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: ${new File(dir, 'registry-data').path}}, delete: {enabled: true}}
http: {addr: 127.0.0.1:${registryPort}}
auth: {htpasswd: {realm: mlci-e2e, path: ${htpasswd.path}}}
"""
        spawn('registry', ['docker-registry', 'serve', config.path])
        registryHost = "127.0.0.1:${registryPort}"
        waitFor("${s3Url}/", [200])
        waitFor("http://${registryHost}/v2/", [401])
        return this
    }

    private void spawn(String name, List<String> command) {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
        builder.redirectOutput(new File(dir, "${name}.log"))
        processes.add(builder.start())
    }

    private void waitFor(String url, List<Integer> statuses) {
        long deadline = System.currentTimeMillis() + 60000
        while (true) {
            try {
                HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection()
                c.connectTimeout = 1000
                if (c.responseCode in statuses) {
                    return
                }
            } catch (IOException ignored) {
                // not up yet
            }
            assert System.currentTimeMillis() < deadline: "${url} did not answer within 60 s; see ${dir}/*.log"
            sleep(200)
        }
    }

    /** A new, empty bucket. */
    String bucket() {
        String name = "mlci-e2e-${UUID.randomUUID().toString().take(8)}"
        HttpURLConnection c = (HttpURLConnection) new URL("${s3Url}/${name}").openConnection()
        c.requestMethod = 'PUT'
        assert c.responseCode == 200: "creating bucket ${name}: HTTP ${c.responseCode}"
        return name
    }

    /** GET on the registry's API as the CI user: [status, headers, parsed JSON or null]. */
    Map registryGet(String path, String accept = null) {
        HttpURLConnection c = (HttpURLConnection) new URL("http://${registryHost}${path}").openConnection()
        c.setRequestProperty('Authorization', 'Basic ' + "${REGISTRY_USER}:${registryPassword}".bytes.encodeBase64())
        if (accept) {
            c.setRequestProperty('Accept', accept)
        }
        int status = c.responseCode
        String body = status < 400 ? c.inputStream.getText('UTF-8') : ''
        return [status: status, digest: c.getHeaderField('Docker-Content-Digest'),
                json: body ? new JsonSlurperClassic().parseText(body) : null]
    }

    /**
     * A GitHub REST stand-in for pull-request comments (the three calls `mlci report comment` makes:
     * list, create, edit), requiring `Authorization: Bearer TOKEN`. Returns its state: base URL,
     * comments (id -> body) and the requests seen (method, path). Stopped by {@link #stop}.
     */
    Map github(String token) {
        Map state = [comments: new LinkedHashMap<Integer, String>(), requests: []]
        com.sun.net.httpserver.HttpServer server = com.sun.net.httpserver.HttpServer.create(
            new InetSocketAddress(InetAddress.getByName('127.0.0.1'), 0), 0)
        server.createContext('/') { com.sun.net.httpserver.HttpExchange x ->
            try {
                answerGithub(x, token, state)
            } catch (Throwable t) {
                System.err.println("github stand-in: ${t}")  // the client then sees its connection dropped
                throw t
            }
        }
        server.start()
        servers.add(server)
        state.url = "http://127.0.0.1:${server.address.port}".toString()
        return state
    }

    private static void answerGithub(com.sun.net.httpserver.HttpExchange x, String token, Map state) {
        String path = x.requestURI.path
        state.requests.add([method: x.requestMethod, path: path])
        int status = 200
        Object answer
        if (x.requestHeaders.getFirst('Authorization') != "Bearer ${token}".toString()) {
            status = 401
            answer = [message: 'Bad credentials']
        } else if (x.requestMethod == 'GET' && path ==~ '/repos/[^/]+/[^/]+/issues/\\d+/comments') {
            answer = state.comments.collect { id, body -> [id: id, body: body] }
        } else if (x.requestMethod == 'POST' && path ==~ '/repos/[^/]+/[^/]+/issues/\\d+/comments') {
            int id = 1000 + state.comments.size()
            state.comments[id] = new JsonSlurperClassic().parseText(x.requestBody.getText('UTF-8')).body
            status = 201
            answer = [id: id]
        } else if (x.requestMethod == 'PATCH' && path ==~ '/repos/[^/]+/[^/]+/issues/comments/\\d+') {
            int id = path.tokenize('/')[-1] as int
            state.comments[id] = new JsonSlurperClassic().parseText(x.requestBody.getText('UTF-8')).body
            answer = [id: id]
        } else {
            status = 404
            answer = [message: 'Not Found']
        }
        byte[] bytes = groovy.json.JsonOutput.toJson(answer).getBytes('UTF-8')
        x.responseHeaders.add('Content-Type', 'application/json')
        x.sendResponseHeaders(status, bytes.length)
        x.responseBody.write(bytes)
        x.close()
    }

    /** Removes the images a test built from the local daemon (every tag of the repository). */
    static void removeImages(String repository) {
        Process list = new ProcessBuilder('docker', 'image', 'ls', '--quiet', repository).start()
        List<String> ids = list.inputStream.text.readLines().findAll { it }.unique()
        list.waitFor()
        if (ids) {
            run(['docker', 'image', 'rm', '--force'] + ids)
        }
    }

    void stop() {
        servers.each { it.stop(0) }
        processes.each { it.destroy() }
        processes.each { it.waitFor() }
        dir.deleteDir()
    }
}
