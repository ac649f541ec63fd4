package org.mlci

/**
 * withCredentials bindings for the secrets the CLI reads from its environment. The secret is
 * bound to a variable and read by the CLI itself: it never appears in Groovy strings or shell text.
 */
class Credentials implements Serializable {
    private static final long serialVersionUID = 1L

    /** S3 / MinIO / Ceph keys (a username/password credential: access key id / secret key). */
    static List store(Object script, String credentialsId) {
        if (!credentialsId) {
            return []
        }
        return [script.usernamePassword(credentialsId: credentialsId,
            usernameVariable: 'AWS_ACCESS_KEY_ID', passwordVariable: 'AWS_SECRET_ACCESS_KEY')]
    }

    /** Container registry login, used by `mlci image push` (handed to the Docker daemon in the API call). */
    static List registry(Object script, String credentialsId) {
        if (!credentialsId) {
            return []
        }
        return [script.usernamePassword(credentialsId: credentialsId,
            usernameVariable: 'MLCI_REGISTRY_USER', passwordVariable: 'MLCI_REGISTRY_PASSWORD')]
    }

    /** The pull-request token `mlci report comment` reads, whatever the forge (a secret-text credential). */
    static List forgeToken(Object script, String credentialsId) {
        return [script.string(credentialsId: credentialsId, variable: 'MLCI_FORGE_TOKEN')]
    }

    /**
     * Runs body with the store bound: the endpoint (cfg.endpoint, as AWS_ENDPOINT_URL) and the keys
     * (cfg.storeCredentialsId), plus any extra bindings (a registry login). Unset values bind nothing.
     */
    static Object withStore(Object script, Map cfg, List extra, Closure body) {
        List bindings = store(script, cfg.storeCredentialsId as String) + extra
        return script.withEnv(Shell.env([AWS_ENDPOINT_URL: cfg.endpoint])) {
            script.withCredentials(bindings, body)
        }
    }

    /** {@link #withStore(Object, Map, List, Closure)} with the store's bindings only. */
    static Object withStore(Object script, Map cfg, Closure body) {
        return withStore(script, cfg, [], body)
    }
}
