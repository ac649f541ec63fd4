/** currentBuild: the result only gets worse, as in Jenkins. */
class Build {
    static final List ORDER = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED']
    String result
    String description
    String displayName = '#1'
    int number = 1
    String absoluteUrl = 'http://jenkins.example/job/model/1/'

    void setResult(String value) {
        if (result == null || ORDER.indexOf(value) > ORDER.indexOf(result)) {
            result = value
        }
    }

    String getCurrentResult() { result ?: 'SUCCESS' }
}
