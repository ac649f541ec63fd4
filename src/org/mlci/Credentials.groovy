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

    /** Container registry login, used by `mlci image push` (docker login --password-stdin). */
    static List registry(Object script, String credentialsId) {
        if (!credentialsId) {
            return []
        }
        return [script.usernamePassword(credentialsId: credentialsId,
            usernameVariable: 'MLCI_REGISTRY_USER', passwordVariable: 'MLCI_REGISTRY_PASSWORD')]
    }
}
