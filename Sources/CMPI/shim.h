// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE, ...) are macros that take the address of
// library globals, which Swift cannot import: these functions hand them over.
#include <mpi.h>

static inline MPI_Comm kiln_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype kiln_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype kiln_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype kiln_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op kiln_mpi_sum(void) { return MPI_SUM; }
static inline void *kiln_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Request kiln_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *kiln_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Errhandler kiln_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int kiln_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
