; A store to 512 MiB, mapped by the identity page tables but beyond the
; 64 MiB of RAM: KVM_EXIT_MMIO; `softkvm run` must report it and exit 4.
bits 64
org 0x10000
    mov rax, 0x20000000
    mov dword [rax], 0x1234
    hlt
