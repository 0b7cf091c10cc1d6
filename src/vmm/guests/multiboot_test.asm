; A Multiboot v1 test kernel (a.out kludge, loaded at 1 MiB). It prints what
; the loader handed it on COM1 and powers the machine off through the ACPI
; PM1a control port (SLP_TYP = S5 | SLP_EN), so `softkvm run -k` exits 0:
;   magic (EAX = 0x2BADB002), CR0.PE/PG, the info flags, mem_lower/mem_upper,
;   the command line, the memory map, each module's string and contents.
; Multiboot Specification 0.6.96, 3.1 (header), 3.2 (machine state), 3.3 (info).
bits 32
org 0x100000

MB_MAGIC equ 0x1BADB002
MB_FLAGS equ (1 << 1) | (1 << 16)   ; memory info, address fields valid
COM1     equ 0x3f8

header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd header       ; header_addr
    dd header       ; load_addr
    dd load_end     ; load_end_addr
    dd bss_end      ; bss_end_addr
    dd start        ; entry_addr

start:
    mov esp, stack_top
    mov [magic], eax
    mov [info], ebx
    mov esi, s_hello
    call puts
    mov esi, s_magic_ok
    cmp dword [magic], 0x2BADB002
    je .magic
    mov esi, s_magic_bad
.magic:
    call puts
    mov eax, cr0            ; expect PE = 1, PG = 0
    and eax, 0x80000001
    mov esi, s_cr0
    call puts
    call puthex
    call newline

    mov ebx, [info]
    mov esi, s_flags
    call puts
    mov eax, [ebx]
    call puthex
    call newline
    mov esi, s_mem
    call puts
    mov eax, [ebx + 4]
    call puthex
    mov al, ' '
    call putc
    mov eax, [ebx + 8]
    call puthex
    call newline

    test dword [ebx], 1 << 2  ; command line
    jz .no_cmdline
    mov esi, s_cmdline
    call puts
    mov esi, [ebx + 16]
    call puts
    call newline
.no_cmdline:

    test dword [ebx], 1 << 6  ; memory map
    jz .no_mmap
    mov esi, [ebx + 48]       ; mmap_addr
    mov edi, esi
    add edi, [ebx + 44]       ; + mmap_length
.mmap_loop:
    cmp esi, edi
    jae .no_mmap
    push esi
    mov esi, s_mmap
    call puts
    pop esi
    mov eax, [esi + 4]        ; base (low)
    call puthex
    mov al, ' '
    call putc
    mov eax, [esi + 12]       ; length (low)
    call puthex
    mov al, ' '
    call putc
    mov eax, [esi + 20]       ; type
    call puthex
    call newline
    mov eax, [esi]            ; size of the rest
    lea esi, [esi + eax + 4]
    jmp .mmap_loop
.no_mmap:

    test dword [ebx], 1 << 3  ; modules
    jz .done
    mov ecx, [ebx + 20]       ; mods_count
    mov edx, [ebx + 24]       ; mods_addr
.mod_loop:
    test ecx, ecx
    jz .done
    mov esi, s_module
    call puts
    mov esi, [edx + 8]        ; string
    call puts
    mov al, ':'
    call putc
    mov al, ' '
    call putc
    mov esi, [edx]            ; mod_start
    test esi, 0xfff           ; page aligned?
    jz .aligned
    push esi
    mov esi, s_unaligned
    call puts
    pop esi
.aligned:
    mov edi, [edx + 4]        ; mod_end
.mod_bytes:
    cmp esi, edi
    jae .mod_next
    mov al, [esi]
    call putc
    inc esi
    jmp .mod_bytes
.mod_next:
    add edx, 16
    dec ecx
    jmp .mod_loop

.done:
    mov esi, s_bye
    call puts
    mov dx, 0x604             ; ACPI PM1a_CNT (softkvm's FADT)
    mov ax, (5 << 10) | (1 << 13)
    out dx, ax
    mov al, 0x7f              ; not powered off: debug-exit 0x7f (status 255)
    out 0xf4, al
.hang:
    cli
    hlt
    jmp .hang

; putc: AL to COM1.
putc:
    push edx
    mov dx, COM1
    out dx, al
    pop edx
    ret
newline:
    mov al, 10
    jmp putc
; puts: the NUL-terminated string at ESI.
puts:
    push eax
    push esi
.next:
    lodsb
    test al, al
    jz .end
    call putc
    jmp .next
.end:
    pop esi
    pop eax
    ret
; puthex: EAX as 0x followed by 8 hex digits.
puthex:
    push eax
    push ecx
    push edx
    mov edx, eax
    mov al, '0'
    call putc
    mov al, 'x'
    call putc
    mov ecx, 8
.digit:
    rol edx, 4
    mov al, dl
    and al, 0xf
    add al, '0'
    cmp al, '9'
    jbe .out
    add al, 'a' - '9' - 1
.out:
    call putc
    loop .digit
    pop edx
    pop ecx
    pop eax
    ret

s_hello:     db "multiboot test kernel", 10, 0
s_magic_ok:  db "magic ok", 10, 0
s_magic_bad: db "magic BAD", 10, 0
s_cr0:       db "cr0 pg|pe ", 0
s_flags:     db "flags ", 0
s_mem:       db "mem ", 0
s_cmdline:   db "cmdline ", 0
s_mmap:      db "mmap ", 0
s_module:    db "module ", 0
s_unaligned: db "(unaligned) ", 0
s_bye:       db "bye", 10, 0
load_end:

absolute load_end
alignb 16
magic:  resd 1
info:   resd 1
        resb 4096
stack_top:
bss_end:
